/** The review texts, English and German (keys: see i18n.ts; `t('review:key')`). */
export default {
  en: {},
  de: {},
};
