export { lotCsv, lotJson, lotPdf, lotReport, reasonsText, reviewText, LOT_CSV_COLUMNS, type LotReport } from './lot.js';
export { shiftPdf, shiftReport, type ShiftReport } from './shift.js';
