-- The records partitioned by month of capture time (declarative partitioning): a month of
-- inspections, their findings, images, reviews and re-inference results is dropped at once, and a
-- query over a time window reads only its months. Prisma cannot describe partitioning: the model
-- definition (prisma/schema.prisma) declares the same columns, with ids unique on their own (one
-- sequence each), while a partitioned table's keys here must also hold "capturedAt".
-- Upgrading copies the records into the new tables: minutes for millions of rows.

-- AlterTable
ALTER TABLE "Station" ADD COLUMN "recordsDays" INTEGER;

-- The month partitions of every record table from the month of `lo` to the month of `hi`, those
-- missing created, and returns how many months it created. The station calls it at start and before
-- writing a record captured in a month it has no partition for. A month's findings, images,
-- reviews and re-inference results reference that month's inspections (a foreign key per
-- partition, not one on the parent tables), so a month is dropped with no other table to check.
-- One creator at a time: the advisory lock (key "STNM" + 1) serializes stations starting together.
CREATE FUNCTION station_month_partitions(lo TIMESTAMP(3), hi TIMESTAMP(3)) RETURNS INTEGER LANGUAGE plpgsql AS $$
DECLARE
  m TIMESTAMP(3) := date_trunc('month', lo);
  suffix TEXT;
  t TEXT;
  made INTEGER := 0;
BEGIN
  PERFORM pg_advisory_xact_lock(1398035533);
  WHILE m <= hi LOOP
    suffix := to_char(m, 'YYYY_MM');
    IF to_regclass(format('%I', 'Inspection_' || suffix)) IS NULL THEN
      EXECUTE format('CREATE TABLE %I PARTITION OF "Inspection" FOR VALUES FROM (%L) TO (%L)', 'Inspection_' || suffix, m, m + INTERVAL '1 month');
      FOREACH t IN ARRAY ARRAY['Defect', 'Image', 'Review', 'ReinferenceResult'] LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)', t || '_' || suffix, t, m, m + INTERVAL '1 month');
        EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I FOREIGN KEY ("inspectionId", "capturedAt") REFERENCES %I ("id", "capturedAt") ON DELETE CASCADE ON UPDATE CASCADE',
          t || '_' || suffix, t || '_' || suffix || '_inspection_fkey', 'Inspection_' || suffix);
      END LOOP;
      made := made + 1;
    END IF;
    m := m + INTERVAL '1 month';
  END LOOP;
  RETURN made;
END $$;

-- The unpartitioned tables step aside, their indexes and constraints renamed out of the way and
-- their sequences kept for the new tables.
ALTER TABLE "Inspection" RENAME TO "Inspection_unpartitioned";
ALTER TABLE "Defect" RENAME TO "Defect_unpartitioned";
ALTER TABLE "Image" RENAME TO "Image_unpartitioned";
ALTER TABLE "Review" RENAME TO "Review_unpartitioned";
ALTER TABLE "ReinferenceResult" RENAME TO "ReinferenceResult_unpartitioned";
DO $$
DECLARE r RECORD;
BEGIN
  FOR r IN SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename LIKE '%\_unpartitioned' LOOP
    EXECUTE format('ALTER INDEX %I RENAME TO %I', r.indexname, left(r.indexname, 40) || '_unpartitioned');
  END LOOP;
END $$;
ALTER SEQUENCE "Inspection_id_seq" OWNED BY NONE;
ALTER SEQUENCE "Defect_id_seq" OWNED BY NONE;
ALTER SEQUENCE "Image_id_seq" OWNED BY NONE;
ALTER SEQUENCE "Review_id_seq" OWNED BY NONE;
ALTER SEQUENCE "ReinferenceResult_id_seq" OWNED BY NONE;

-- CreateTable
CREATE TABLE "Inspection" (
    "id" INTEGER NOT NULL DEFAULT nextval('"Inspection_id_seq"'),
    "stationId" TEXT NOT NULL,
    "partSeq" BIGINT NOT NULL,
    "source" TEXT NOT NULL,
    "capturedAt" TIMESTAMP(3) NOT NULL,
    "decidedAt" TIMESTAMP(3) NOT NULL,
    "verdict" TEXT NOT NULL,
    "errorCode" TEXT,
    "reasons" JSONB NOT NULL,
    "outputs" JSONB NOT NULL,
    "maxScore" DOUBLE PRECISION NOT NULL DEFAULT 0,
    "defectCount" INTEGER NOT NULL DEFAULT 0,
    "timings" JSONB NOT NULL,
    "latencyMs" DOUBLE PRECISION NOT NULL,
    "recipeName" TEXT NOT NULL,
    "recipeVersionId" INTEGER,
    "modelId" INTEGER,
    "truth" JSONB,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Inspection_pkey" PRIMARY KEY ("id", "capturedAt")
) PARTITION BY RANGE ("capturedAt");

-- CreateTable
CREATE TABLE "Defect" (
    "id" INTEGER NOT NULL DEFAULT nextval('"Defect_id_seq"'),
    "inspectionId" INTEGER NOT NULL,
    "capturedAt" TIMESTAMP(3) NOT NULL,
    "class" TEXT NOT NULL,
    "score" DOUBLE PRECISION NOT NULL,
    "x1" DOUBLE PRECISION,
    "y1" DOUBLE PRECISION,
    "x2" DOUBLE PRECISION,
    "y2" DOUBLE PRECISION,
    "area" DOUBLE PRECISION,
    "rejecting" BOOLEAN NOT NULL,
    "scoreBin" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "Defect_pkey" PRIMARY KEY ("id", "capturedAt")
) PARTITION BY RANGE ("capturedAt");

-- CreateTable
CREATE TABLE "Image" (
    "id" INTEGER NOT NULL DEFAULT nextval('"Image_id_seq"'),
    "inspectionId" INTEGER NOT NULL,
    "capturedAt" TIMESTAMP(3) NOT NULL,
    "variant" TEXT NOT NULL,
    "path" TEXT NOT NULL,
    "mime" TEXT NOT NULL,
    "width" INTEGER NOT NULL,
    "height" INTEGER NOT NULL,
    "bytes" INTEGER NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Image_pkey" PRIMARY KEY ("id", "capturedAt")
) PARTITION BY RANGE ("capturedAt");

-- CreateTable
CREATE TABLE "Review" (
    "id" INTEGER NOT NULL DEFAULT nextval('"Review_id_seq"'),
    "inspectionId" INTEGER NOT NULL,
    "capturedAt" TIMESTAMP(3) NOT NULL,
    "label" TEXT NOT NULL,
    "class" TEXT,
    "box" JSONB,
    "note" TEXT NOT NULL DEFAULT '',
    "userId" INTEGER NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Review_pkey" PRIMARY KEY ("id", "capturedAt")
) PARTITION BY RANGE ("capturedAt");

-- CreateTable
CREATE TABLE "ReinferenceResult" (
    "id" INTEGER NOT NULL DEFAULT nextval('"ReinferenceResult_id_seq"'),
    "runId" INTEGER NOT NULL,
    "inspectionId" INTEGER NOT NULL,
    "capturedAt" TIMESTAMP(3) NOT NULL,
    "verdict" TEXT NOT NULL,
    "errorCode" TEXT,
    "outputs" JSONB NOT NULL,
    "defects" JSONB NOT NULL,
    "maxScore" DOUBLE PRECISION NOT NULL,
    "latencyMs" DOUBLE PRECISION NOT NULL,

    CONSTRAINT "ReinferenceResult_pkey" PRIMARY KEY ("id", "capturedAt")
) PARTITION BY RANGE ("capturedAt");

ALTER SEQUENCE "Inspection_id_seq" OWNED BY "Inspection"."id";
ALTER SEQUENCE "Defect_id_seq" OWNED BY "Defect"."id";
ALTER SEQUENCE "Image_id_seq" OWNED BY "Image"."id";
ALTER SEQUENCE "Review_id_seq" OWNED BY "Review"."id";
ALTER SEQUENCE "ReinferenceResult_id_seq" OWNED BY "ReinferenceResult"."id";

-- CreateIndex
CREATE INDEX "Inspection_capturedAt_idx" ON "Inspection"("capturedAt");
CREATE INDEX "Inspection_recipeName_capturedAt_idx" ON "Inspection"("recipeName", "capturedAt");
CREATE INDEX "Inspection_stationId_capturedAt_idx" ON "Inspection"("stationId", "capturedAt");
CREATE UNIQUE INDEX "Inspection_stationId_source_partSeq_capturedAt_key" ON "Inspection"("stationId", "source", "partSeq", "capturedAt");
CREATE INDEX "Inspection_verdict_capturedAt_idx" ON "Inspection"("verdict", "capturedAt");
CREATE INDEX "Inspection_verdict_id_idx" ON "Inspection"("verdict", "id");
CREATE INDEX "Defect_class_idx" ON "Defect"("class");
CREATE INDEX "Defect_inspectionId_idx" ON "Defect"("inspectionId", "capturedAt");
CREATE UNIQUE INDEX "Image_inspectionId_variant_key" ON "Image"("inspectionId", "capturedAt", "variant");
CREATE INDEX "Review_inspectionId_idx" ON "Review"("inspectionId", "capturedAt");
CREATE INDEX "Review_label_createdAt_idx" ON "Review"("label", "createdAt");
CREATE UNIQUE INDEX "ReinferenceResult_runId_inspectionId_key" ON "ReinferenceResult"("runId", "inspectionId", "capturedAt");
CREATE INDEX "ReinferenceResult_runId_verdict_idx" ON "ReinferenceResult"("runId", "verdict");

-- AddForeignKey (those to Inspection are per month partition, above)
ALTER TABLE "Inspection" ADD CONSTRAINT "Inspection_stationId_fkey" FOREIGN KEY ("stationId") REFERENCES "Station"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "Inspection" ADD CONSTRAINT "Inspection_recipeVersionId_fkey" FOREIGN KEY ("recipeVersionId") REFERENCES "RecipeVersion"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "Inspection" ADD CONSTRAINT "Inspection_modelId_fkey" FOREIGN KEY ("modelId") REFERENCES "Model"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "Review" ADD CONSTRAINT "Review_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "ReinferenceResult" ADD CONSTRAINT "ReinferenceResult_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Reinference"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- The months the old records fall in and the current one, then the records, each table's rows
-- with their inspection's capture time.
SELECT station_month_partitions(
  LEAST((SELECT min("capturedAt") FROM "Inspection_unpartitioned"), (now() AT TIME ZONE 'UTC')::TIMESTAMP(3)),
  GREATEST((SELECT max("capturedAt") FROM "Inspection_unpartitioned"), (now() AT TIME ZONE 'UTC')::TIMESTAMP(3)));
INSERT INTO "Inspection" ("id", "stationId", "partSeq", "source", "capturedAt", "decidedAt", "verdict", "errorCode", "reasons", "outputs", "maxScore", "defectCount", "timings", "latencyMs", "recipeName", "recipeVersionId", "modelId", "truth", "createdAt")
  SELECT "id", "stationId", "partSeq", "source", "capturedAt", "decidedAt", "verdict", "errorCode", "reasons", "outputs", "maxScore", "defectCount", "timings", "latencyMs", "recipeName", "recipeVersionId", "modelId", "truth", "createdAt" FROM "Inspection_unpartitioned";
INSERT INTO "Defect" ("id", "inspectionId", "capturedAt", "class", "score", "x1", "y1", "x2", "y2", "area", "rejecting", "scoreBin")
  SELECT x."id", x."inspectionId", i."capturedAt", x."class", x."score", x."x1", x."y1", x."x2", x."y2", x."area", x."rejecting", x."scoreBin"
  FROM "Defect_unpartitioned" x JOIN "Inspection_unpartitioned" i ON i."id" = x."inspectionId";
INSERT INTO "Image" ("id", "inspectionId", "capturedAt", "variant", "path", "mime", "width", "height", "bytes", "createdAt")
  SELECT x."id", x."inspectionId", i."capturedAt", x."variant", x."path", x."mime", x."width", x."height", x."bytes", x."createdAt"
  FROM "Image_unpartitioned" x JOIN "Inspection_unpartitioned" i ON i."id" = x."inspectionId";
INSERT INTO "Review" ("id", "inspectionId", "capturedAt", "label", "class", "box", "note", "userId", "createdAt")
  SELECT x."id", x."inspectionId", i."capturedAt", x."label", x."class", x."box", x."note", x."userId", x."createdAt"
  FROM "Review_unpartitioned" x JOIN "Inspection_unpartitioned" i ON i."id" = x."inspectionId";
INSERT INTO "ReinferenceResult" ("id", "runId", "inspectionId", "capturedAt", "verdict", "errorCode", "outputs", "defects", "maxScore", "latencyMs")
  SELECT x."id", x."runId", x."inspectionId", i."capturedAt", x."verdict", x."errorCode", x."outputs", x."defects", x."maxScore", x."latencyMs"
  FROM "ReinferenceResult_unpartitioned" x JOIN "Inspection_unpartitioned" i ON i."id" = x."inspectionId";

DROP TABLE "ReinferenceResult_unpartitioned";
DROP TABLE "Review_unpartitioned";
DROP TABLE "Image_unpartitioned";
DROP TABLE "Defect_unpartitioned";
DROP TABLE "Inspection_unpartitioned";
