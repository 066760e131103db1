/** The viewer texts, English and German (keys: see i18n.ts; `t('viewer:key')`). */
export default {
  en: {},
  de: {},
};
