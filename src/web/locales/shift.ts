/** The shift texts, English and German (keys: see i18n.ts; `t('shift:key')`). */
export default {
  en: {},
  de: {},
};
