/** The stats texts, English and German (keys: see i18n.ts; `t('stats:key')`). */
export default {
  en: {},
  de: {},
};
