-- CreateTable
CREATE TABLE "StatHour" (
    "hour" DATETIME NOT NULL,
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

    PRIMARY KEY ("hour", "stationId", "recipeName", "recipeVersionId")
);

-- CreateTable
CREATE TABLE "StatScoreHour" (
    "hour" DATETIME NOT NULL,
    "stationId" TEXT NOT NULL,
    "recipeName" TEXT NOT NULL,
    "recipeVersionId" INTEGER NOT NULL DEFAULT 0,
    "class" TEXT NOT NULL,
    "bin" INTEGER NOT NULL,
    "findings" INTEGER NOT NULL DEFAULT 0,
    "rejecting" INTEGER NOT NULL DEFAULT 0,

    PRIMARY KEY ("hour", "stationId", "recipeName", "recipeVersionId", "class", "bin")
);

-- AlterTable (a column added in place: redefining the table would copy every finding)
ALTER TABLE "Defect" ADD COLUMN "scoreBin" INTEGER NOT NULL DEFAULT 0;
UPDATE "Defect" SET "scoreBin" = MIN(99, MAX(0, CAST("score" * 100 AS INTEGER)));

-- CreateIndex
CREATE INDEX "StatHour_stationId_hour_idx" ON "StatHour"("stationId", "hour");

-- CreateIndex
CREATE INDEX "StatScoreHour_stationId_hour_idx" ON "StatScoreHour"("stationId", "hour");

-- CreateIndex
CREATE INDEX "Inspection_stationId_capturedAt_idx" ON "Inspection"("stationId", "capturedAt");

-- CreateIndex
CREATE INDEX "Inspection_verdict_id_idx" ON "Inspection"("verdict", "id");


-- Backfill: the aggregates of what is recorded already (hours as Prisma writes DateTime on SQLite).
INSERT INTO "StatHour" ("hour", "stationId", "recipeName", "recipeVersionId", "parts", "pass", "fail", "uninspected", "confirmed", "falseRejects", "escapes")
SELECT substr(i."capturedAt", 1, 13) || ':00:00.000+00:00', i."stationId", i."recipeName", COALESCE(i."recipeVersionId", 0),
       COUNT(*),
       SUM(CASE WHEN i."verdict" = 'pass' THEN 1 ELSE 0 END),
       SUM(CASE WHEN i."verdict" = 'fail' THEN 1 ELSE 0 END),
       SUM(CASE WHEN i."verdict" = 'uninspected' THEN 1 ELSE 0 END),
       SUM(CASE WHEN l."label" = 'confirmed' THEN 1 ELSE 0 END),
       SUM(CASE WHEN l."label" = 'false_reject' THEN 1 ELSE 0 END),
       SUM(CASE WHEN l."label" = 'escape' THEN 1 ELSE 0 END)
FROM "Inspection" i
LEFT JOIN (
  SELECT r."inspectionId", r."label" FROM "Review" r
  WHERE r."id" = (SELECT MAX(r2."id") FROM "Review" r2 WHERE r2."inspectionId" = r."inspectionId")
) l ON l."inspectionId" = i."id"
GROUP BY 1, 2, 3, 4;

INSERT INTO "StatScoreHour" ("hour", "stationId", "recipeName", "recipeVersionId", "class", "bin", "findings", "rejecting")
SELECT substr(i."capturedAt", 1, 13) || ':00:00.000+00:00', i."stationId", i."recipeName", COALESCE(i."recipeVersionId", 0), d."class", d."scoreBin",
       COUNT(*), SUM(CASE WHEN d."rejecting" THEN 1 ELSE 0 END)
FROM "Defect" d JOIN "Inspection" i ON i."id" = d."inspectionId"
GROUP BY 1, 2, 3, 4, 5, 6;
