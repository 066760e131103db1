-- CreateTable
CREATE TABLE "StatHour" (
    "hour" TIMESTAMP(3) NOT NULL,
    "stationId" TEXT NOT NULL,
    "recipeName" TEXT NOT NULL,
    "recipeVersionId" INTEGER NOT NULL DEFAULT 0,
    "parts" INTEGER NOT NULL DEFAULT 0,
    "pass" INTEGER NOT NULL DEFAULT 0,
    "fail" INTEGER NOT NULL DEFAULT 0,
    "uninspected" INTEGER NOT NULL DEFAULT 0,
    "confirmed" INTEGER NOT NULL DEFAULT 0,
    "falseRejects" INTEGER NOT NULL DEFAULT 0,
    "escapes" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "StatHour_pkey" PRIMARY KEY ("hour","stationId","recipeName","recipeVersionId")
);

-- CreateTable
CREATE TABLE "StatScoreHour" (
    "hour" TIMESTAMP(3) NOT NULL,
    "stationId" TEXT NOT NULL,
    "recipeName" TEXT NOT NULL,
    "recipeVersionId" INTEGER NOT NULL DEFAULT 0,
    "class" TEXT NOT NULL,
    "bin" INTEGER NOT NULL,
    "findings" INTEGER NOT NULL DEFAULT 0,
    "rejecting" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "StatScoreHour_pkey" PRIMARY KEY ("hour","stationId","recipeName","recipeVersionId","class","bin")
);

-- AlterTable
ALTER TABLE "Defect" ADD COLUMN     "scoreBin" INTEGER NOT NULL DEFAULT 0;
UPDATE "Defect" SET "scoreBin" = LEAST(99, GREATEST(0, FLOOR("score" * 100)))::INTEGER;

-- CreateIndex
CREATE INDEX "StatHour_stationId_hour_idx" ON "StatHour"("stationId", "hour");

-- CreateIndex
CREATE INDEX "StatScoreHour_stationId_hour_idx" ON "StatScoreHour"("stationId", "hour");

-- CreateIndex
CREATE INDEX "Inspection_stationId_capturedAt_idx" ON "Inspection"("stationId", "capturedAt");

-- CreateIndex
CREATE INDEX "Inspection_verdict_id_idx" ON "Inspection"("verdict", "id");

-- Backfill: the aggregates of what is recorded already.
INSERT INTO "StatHour" ("hour", "stationId", "recipeName", "recipeVersionId", "parts", "pass", "fail", "uninspected", "confirmed", "falseRejects", "escapes")
SELECT date_trunc('hour', i."capturedAt"), i."stationId", i."recipeName", COALESCE(i."recipeVersionId", 0),
       COUNT(*),
       SUM(CASE WHEN i."verdict" = 'pass' THEN 1 ELSE 0 END),
       SUM(CASE WHEN i."verdict" = 'fail' THEN 1 ELSE 0 END),
       SUM(CASE WHEN i."verdict" = 'uninspected' THEN 1 ELSE 0 END),
       SUM(CASE WHEN l."label" = 'confirmed' THEN 1 ELSE 0 END),
       SUM(CASE WHEN l."label" = 'false_reject' THEN 1 ELSE 0 END),
       SUM(CASE WHEN l."label" = 'escape' THEN 1 ELSE 0 END)
FROM "Inspection" i
LEFT JOIN (
  SELECT DISTINCT ON (r."inspectionId") r."inspectionId", r."label" FROM "Review" r ORDER BY r."inspectionId", r."id" DESC
) l ON l."inspectionId" = i."id"
GROUP BY 1, 2, 3, 4;

INSERT INTO "StatScoreHour" ("hour", "stationId", "recipeName", "recipeVersionId", "class", "bin", "findings", "rejecting")
SELECT date_trunc('hour', i."capturedAt"), i."stationId", i."recipeName", COALESCE(i."recipeVersionId", 0), d."class", d."scoreBin",
       COUNT(*), SUM(CASE WHEN d."rejecting" THEN 1 ELSE 0 END)
FROM "Defect" d JOIN "Inspection" i ON i."id" = d."inspectionId"
GROUP BY 1, 2, 3, 4, 5, 6;
