/** The gallery texts, English and German (keys: see i18n.ts; `t('gallery:key')`). */
export default {
  en: {},
  de: {},
};
