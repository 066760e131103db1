import { DEFAULT_SHIFTS } from './plant.js';
import { Type, type Static } from '@sinclair/typebox';

/**
 * The station file, one schema for validation and types (TypeBox; the HTTP routes use the same
 * language). Unknown keys are errors: a misspelt key must not silently fall back to a default.
 */
const Strict = { additionalProperties: false } as const;

export const ClassRule = Type.Object(
  {
    /** A detection of this class counts from this score on. */
    minScore: Type.Number({ minimum: 0, maximum: 1 }),
    /** ... and from this area on (mask pixels when the model gives masks, box area otherwise; original-image pixels). */
    minArea: Type.Optional(Type.Number({ minimum: 0 })),
    /** The part fails when more than this many detections count. */
    maxCount: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  Strict,
);
export type ClassRule = Static<typeof ClassRule>;

export const Thresholds = Type.Object(
  {
    /** Rule for classes not listed in `classes`. */
    default: Type.Optional(ClassRule),
    classes: Type.Optional(Type.Record(Type.String({ minLength: 1 }), ClassRule)),
    /** Anomaly models: the part fails when the image score reaches this. */
    anomalyScore: Type.Optional(Type.Number({ minimum: 0 })),
    /** Anomaly models: pixel score from which a map cell counts as anomalous (default 0.5, the trained one). */
    anomalyPixel: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    /** Anomaly models: ... and the part fails only when the anomalous area reaches this (source pixels, on the stored 32 × 32 map). */
    anomalyMinArea: Type.Optional(Type.Number({ minimum: 0 })),
    /** Classifiers: classes that mean a good part. */
    goodClasses: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
  },
  Strict,
);
export type Thresholds = Static<typeof Thresholds>;

/** What a recipe reads from the part: a DataMatrix, QR or Code 128 code in a region of the frame. */
export const CodeSpec = Type.Object(
  {
    symbology: Type.Union([Type.Literal('DataMatrix'), Type.Literal('QRCode'), Type.Literal('Code128')]),
    /** [x, y, width, height] in source pixels; only this is decoded. A region outside the frame leaves the part uninspected. */
    region: Type.Tuple([Type.Integer({ minimum: 0 }), Type.Integer({ minimum: 0 }), Type.Integer({ minimum: 1 }), Type.Integer({ minimum: 1 })]),
    /** A code that cannot be read: a reject reason (`no-read`), or ignored. */
    noRead: Type.Union([Type.Literal('reject'), Type.Literal('ignore')], { default: 'reject' }),
    /** A code read that differs from the PLC's PartId is a reject reason (`code-mismatch`), when both exist. */
    matchPartId: Type.Boolean({ default: true }),
  },
  Strict,
);
export type CodeSpec = Static<typeof CodeSpec>;

export const Recipe = Type.Object(
  {
    /** Path of the .onnx file, relative to the configuration file. */
    model: Type.String({ minLength: 1 }),
    /** Region of interest in source pixels [x, y, width, height]; the model sees only this. */
    roi: Type.Optional(Type.Tuple([Type.Integer({ minimum: 0 }), Type.Integer({ minimum: 0 }), Type.Integer({ minimum: 1 }), Type.Integer({ minimum: 1 })])),
    /** Overrides the model manifest: letterbox keeps the aspect ratio, stretch does not. */
    resize: Type.Optional(Type.Union([Type.Literal('letterbox'), Type.Literal('stretch')])),
    thresholds: Thresholds,
    /** Fraction of good parts whose images are kept (every failed part's images are kept). */
    keepGood: Type.Number({ minimum: 0, maximum: 1, default: 0.05 }),
    /** Non-maximum suppression IoU for detection models. */
    nmsIou: Type.Number({ minimum: 0, maximum: 1, default: 0.5 }),
    /** The PLC's RecipeSelect value that chooses this recipe for a part (unique among recipes). */
    number: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    /** A code printed on the part (its serial), read in a region of the frame. */
    code: Type.Optional(CodeSpec),
  },
  Strict,
);
export type Recipe = Static<typeof Recipe>;

export const Source = Type.Object(
  {
    name: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9_.-]+$' }),
    /** `dir:PATH?loop=1&rate=5`, `synthetic:?seed=1&defectRate=0.2&rate=10`, `http:` */
    uri: Type.String({ minLength: 1 }),
    recipe: Type.String({ minLength: 1 }),
  },
  Strict,
);
export type Source = Static<typeof Source>;

const TagSpec = (def: string) => Type.String({ minLength: 1, default: def });

/** The line PLC over OPC UA (the reject gate). Secure unless `None` is chosen explicitly. */
export const PlcConfig = Type.Object(
  {
    endpoint: Type.String({ pattern: '^opc\\.tcp://' }),
    securityMode: Type.Union([Type.Literal('SignAndEncrypt'), Type.Literal('Sign'), Type.Literal('None')], { default: 'SignAndEncrypt' }),
    securityPolicy: Type.Union([Type.Literal('Basic256Sha256'), Type.Literal('Aes128_Sha256_RsaOaep'), Type.Literal('None')], { default: 'Basic256Sha256' }),
    user: Type.Union([
      Type.Object(
        {
          username: Type.String({ minLength: 1 }),
          /** Name of the environment variable holding the password (keeps it out of the file). */
          passwordEnv: Type.Optional(Type.String({ minLength: 1 })),
          password: Type.Optional(Type.String()),
        },
        Strict,
      ),
      Type.Object({ certificate: Type.String({ minLength: 1 }), privateKey: Type.String({ minLength: 1 }) }, Strict),
      Type.Object({ anonymous: Type.Literal(true) }, Strict),
    ]),
    /** Namespace of unqualified browse-path segments in `tags`. */
    namespaceUri: Type.String({ default: 'urn:inspection-station:line-simulator' }),
    /** NodeIds (`ns=3;s=…`, `nsu=URI;s=…`) or browse paths from Objects (`Line/PartSeq`). */
    tags: Type.Object(
      {
        PartSeq: TagSpec('Line/PartSeq'),
        PlcHeartbeat: TagSpec('Line/PlcHeartbeat'),
        StationHeartbeat: TagSpec('Line/StationHeartbeat'),
        Ready: TagSpec('Line/Ready'),
        ResultPartSeq: TagSpec('Line/ResultPartSeq'),
        Verdict: TagSpec('Line/Verdict'),
        DefectCode: TagSpec('Line/DefectCode'),
        ResultSeq: TagSpec('Line/ResultSeq'),
        /** The part's identity, read as of its trigger (the PLC writes them before PartSeq); unset: not read. */
        PartId: Type.Optional(Type.String({ minLength: 1 })),
        Lot: Type.Optional(Type.String({ minLength: 1 })),
        /** The recipe number for this part (a recipe's `number`), like a vision system's job load. */
        RecipeSelect: Type.Optional(Type.String({ minLength: 1 })),
        /** PLC → station (UInt32): the ResultSeq the PLC has taken; unset: no acknowledge expected. */
        ResultAck: Type.Optional(Type.String({ minLength: 1 })),
      },
      { ...Strict, default: {} },
    ),
    heartbeatMs: Type.Integer({ minimum: 50, default: 500 }),
    /** With tags.ResultAck: a result the PLC has not acknowledged this long after its write is counted unacknowledged. */
    ackTimeoutMs: Type.Integer({ minimum: 10, default: 1000 }),
    reconnectMinMs: Type.Integer({ minimum: 10, default: 250 }),
    reconnectMaxMs: Type.Integer({ minimum: 10, default: 5000 }),
    /** The station does not start unless the PLC answers (exit 2, STN_ERR_PLC_CONNECT); default: it runs and rejects until it does. */
    required: Type.Optional(Type.Boolean()),
  },
  Strict,
);
export type PlcConfig = Static<typeof PlcConfig>;

/** The station's own OPC UA server (OPC 40100-1 Machine Vision, Simple Inline). */
export const OpcuaServerConfig = Type.Object(
  {
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 4841 }),
    host: Type.String({ default: '127.0.0.1' }),
    users: Type.Array(Type.Object({ username: Type.String({ minLength: 1 }), passwordEnv: Type.String({ minLength: 1 }) }, Strict), { default: [] }),
    allowAnonymous: Type.Boolean({ default: false }),
  },
  Strict,
);
export type OpcuaServerConfig = Static<typeof OpcuaServerConfig>;

/** Results and state to the plant's MQTT broker (Unified Namespace). */
export const MqttConfig = Type.Object(
  {
    url: Type.String({ pattern: '^(mqtts?|wss?|tcp)://' }),
    username: Type.Optional(Type.String({ minLength: 1 })),
    /** Name of the environment variable holding the password (keeps it out of the file). */
    passwordEnv: Type.Optional(Type.String({ minLength: 1 })),
    /** Topic levels before site/area/line/station, e.g. the enterprise. */
    topicPrefix: Type.String({ default: '' }),
    qos: Type.Union([Type.Literal(0), Type.Literal(1)], { default: 1 }),
    /** Messages kept while the broker is away; beyond it the oldest are dropped (counted). */
    bufferSize: Type.Integer({ minimum: 0, default: 1000 }),
    reconnectMs: Type.Integer({ minimum: 100, default: 1000 }),
  },
  Strict,
);
export type MqttConfig = Static<typeof MqttConfig>;

export const StationConfig = Type.Object(
  {
    station: Type.Object(
      {
        id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$' }),
        name: Type.String({ default: '' }),
        line: Type.String({ default: '' }),
        /** Site / area / line / station: the station's place in the plant (and in the MQTT topic tree). */
        area: Type.String({ default: '' }),
        site: Type.String({ default: '' }),
      },
      Strict,
    ),
    http: Type.Object(
      {
        host: Type.String({ default: '127.0.0.1' }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
        /** sha256 (hex) of API keys allowed to push frames to `POST /api/frames`. */
        pushKeySha256: Type.Array(Type.String({ pattern: '^[0-9a-f]{64}$' }), { default: [] }),
        /** Largest accepted request body (images), bytes. */
        bodyLimit: Type.Integer({ minimum: 1024, default: 25 * 1024 * 1024 }),
        /** HTTPS: PEM certificate and key files (relative to this file). Session cookies are then Secure. */
        tls: Type.Optional(Type.Object({ cert: Type.String({ minLength: 1 }), key: Type.String({ minLength: 1 }) }, Strict)),
        /** Requests per minute per client address on the API (login has its own, stricter limit). */
        rateLimitPerMinute: Type.Integer({ minimum: 1, default: 1200 }),
        /** `POST /api/whatif` answers windows up to this many parts at once; larger ones run as jobs (`/api/whatif/jobs`). */
        whatIfSyncMaxParts: Type.Integer({ minimum: 1, default: 1_000_000 }),
        /** sha256 (hex) of bearer tokens a Prometheus scraper may send to `GET /metrics` (otherwise a viewer login). */
        metricsTokenSha256: Type.Array(Type.String({ pattern: '^[0-9a-f]{64}$' }), { default: [] }),
      },
      { ...Strict, default: {} },
    ),
    storage: Type.Object(
      {
        /** Folder for the SQLite file and images, relative to the configuration file. */
        dataDir: Type.String({ default: './data' }),
        /** `file:...` or `postgresql://...`; DATABASE_URL overrides it. Default: file:<dataDir>/station.db */
        databaseUrl: Type.Optional(Type.String()),
        /** Records waiting for the database before images are shed (rows are never shed first). */
        queueSize: Type.Integer({ minimum: 1, default: 256 }),
        /** Where images go (default `<dataDir>/images`): a network share several stations mount works too. */
        imagesDir: Type.Optional(Type.String({ minLength: 1 })),
        /** Encode record images in a child process at low priority (nice 10), off the line's cores. */
        encodeInChildProcess: Type.Boolean({ default: true }),
        /** Hours a dataset export archive is kept before it is deleted (also at start-up). */
        exportTtlHours: Type.Integer({ minimum: 1, maximum: 8760, default: 24 }),
        /** Where rows wait while the database cannot take them (default `<dataDir>/spool`). */
        spoolDir: Type.Optional(Type.String({ minLength: 1 })),
        /** Image retention, and optionally records retention (recordsDays); the hourly statistics are kept for ever. */
        retention: Type.Object(
          {
            maxAgeDays: Type.Number({ exclusiveMinimum: 0, default: 90 }),
            keepReviewedDays: Type.Number({ exclusiveMinimum: 0, default: 730 }),
            /** Inspection records (findings, compact outputs, reviews, images) older than this are deleted; the hourly statistics stay. Unset: kept for ever. */
            recordsDays: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
            maxBytes: Type.Optional(Type.Integer({ minimum: 1 })),
            minFreeBytes: Type.Integer({ minimum: 0, default: 1024 ** 3 }),
            intervalS: Type.Number({ exclusiveMinimum: 0, default: 300 }),
          },
          { ...Strict, default: {} },
        ),
      },
      { ...Strict, default: {} },
    ),
    line: Type.Object(
      {
        /** A part whose verdict is not ready this many ms after its trigger is uninspected. */
        deadlineMs: Type.Integer({ minimum: 1, default: 400 }),
        /** Frames waiting for inference; beyond it the oldest is dropped (fail-safe reject). */
        queueSize: Type.Integer({ minimum: 1, default: 4 }),
        /** Largest image accepted, in pixels (decompression-bomb guard). */
        maxPixels: Type.Integer({ minimum: 1, default: 40_000_000 }),
        /** onnxruntime intra-op threads. */
        threads: Type.Integer({ minimum: 1, default: 2 }),
        /** No sign of life from the line worker for this long (ms): it is restarted. */
        watchdogMs: Type.Integer({ minimum: 100, default: 5000 }),
        /** Restarts allowed within `restartWindowS`; one more and the line stays down (failed, Ready off). */
        maxRestarts: Type.Integer({ minimum: 0, default: 5 }),
        restartWindowS: Type.Integer({ minimum: 1, default: 600 }),
      },
      { ...Strict, default: {} },
    ),
    /** The plant's clock: statistics per shift and per day, and every time the gallery shows, in its zone. */
    plant: Type.Object(
      {
        /** IANA time zone (`Europe/Berlin`); its offset from UTC must be whole hours. */
        timeZone: Type.String({ minLength: 1, default: 'UTC' }),
        /** Shift starts in the plant's wall time, on the hour. */
        shifts: Type.Array(
          Type.Object(
            { name: Type.String({ minLength: 1, maxLength: 32, pattern: '^[A-Za-z0-9 _.-]+$' }), start: Type.String({ pattern: '^([01][0-9]|2[0-3]):00$' }) },
            Strict,
          ),
          { minItems: 1, maxItems: 6, default: DEFAULT_SHIFTS.map((x) => ({ ...x })) },
        ),
      },
      { ...Strict, default: {} },
    ),
    plc: Type.Optional(PlcConfig),
    opcua: Type.Optional(OpcuaServerConfig),
    mqtt: Type.Optional(MqttConfig),
    sources: Type.Array(Source, { minItems: 1 }),
    recipes: Type.Record(Type.String({ minLength: 1 }), Recipe),
  },
  Strict,
);
export type StationConfig = Static<typeof StationConfig>;
