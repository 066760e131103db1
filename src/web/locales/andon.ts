/** The andon texts, English and German (keys: see i18n.ts; `t('andon:key')`). */
export default {
  en: {},
  de: {},
};
