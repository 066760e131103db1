/** The whatif texts, English and German (keys: see i18n.ts; `t('whatif:key')`). */
export default {
  en: {},
  de: {},
};
