/** The recipes texts, English and German (keys: see i18n.ts; `t('recipes:key')`). */
export default {
  en: {},
  de: {},
};
