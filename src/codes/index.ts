export { prepareCodeReader, readCode, regionFits, ZXING_READER_WASM, type Symbology } from './reader.js';
