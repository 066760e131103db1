/** The lot texts, English and German (keys: see i18n.ts; `t('lot:key')`). */
export default {
  en: {},
  de: {},
};
