-- AlterTable
ALTER TABLE "Station" ADD COLUMN "recordsDays" INTEGER;

-- RedefineTables: the tables that hang off an inspection carry its capture time (on PostgreSQL
-- their partition key, here a column like any other), each row taking its inspection's
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Defect" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "inspectionId" INTEGER NOT NULL,
    "capturedAt" DATETIME NOT NULL,
    "class" TEXT NOT NULL,
    "score" REAL NOT NULL,
    "x1" REAL,
    "y1" REAL,
    "x2" REAL,
    "y2" REAL,
    "area" REAL,
    "rejecting" BOOLEAN NOT NULL,
    "scoreBin" INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT "Defect_inspectionId_fkey" FOREIGN KEY ("inspectionId") REFERENCES "Inspection" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);
INSERT INTO "new_Defect" ("area", "class", "id", "inspectionId", "rejecting", "score", "scoreBin", "x1", "x2", "y1", "y2", "capturedAt") SELECT x."area", x."class", x."id", x."inspectionId", x."rejecting", x."score", x."scoreBin", x."x1", x."x2", x."y1", x."y2", i."capturedAt" FROM "Defect" x JOIN "Inspection" i ON i."id" = x."inspectionId";
DROP TABLE "Defect";
ALTER TABLE "new_Defect" RENAME TO "Defect";
CREATE INDEX "Defect_class_idx" ON "Defect"("class");
CREATE INDEX "Defect_inspectionId_idx" ON "Defect"("inspectionId");
CREATE TABLE "new_Image" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "inspectionId" INTEGER NOT NULL,
    "capturedAt" DATETIME NOT NULL,
    "variant" TEXT NOT NULL,
    "path" TEXT NOT NULL,
    "mime" TEXT NOT NULL,
    "width" INTEGER NOT NULL,
    "height" INTEGER NOT NULL,
    "bytes" INTEGER NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Image_inspectionId_fkey" FOREIGN KEY ("inspectionId") REFERENCES "Inspection" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);
INSERT INTO "new_Image" ("bytes", "createdAt", "height", "id", "inspectionId", "mime", "path", "variant", "width", "capturedAt") SELECT x."bytes", x."createdAt", x."height", x."id", x."inspectionId", x."mime", x."path", x."variant", x."width", i."capturedAt" FROM "Image" x JOIN "Inspection" i ON i."id" = x."inspectionId";
DROP TABLE "Image";
ALTER TABLE "new_Image" RENAME TO "Image";
CREATE UNIQUE INDEX "Image_inspectionId_variant_key" ON "Image"("inspectionId", "variant");
CREATE TABLE "new_ReinferenceResult" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "runId" INTEGER NOT NULL,
    "inspectionId" INTEGER NOT NULL,
    "capturedAt" DATETIME NOT NULL,
    "verdict" TEXT NOT NULL,
    "errorCode" TEXT,
    "outputs" JSONB NOT NULL,
    "defects" JSONB NOT NULL,
    "maxScore" REAL NOT NULL,
    "latencyMs" REAL NOT NULL,
    CONSTRAINT "ReinferenceResult_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Reinference" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "ReinferenceResult_inspectionId_fkey" FOREIGN KEY ("inspectionId") REFERENCES "Inspection" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);
INSERT INTO "new_ReinferenceResult" ("defects", "errorCode", "id", "inspectionId", "latencyMs", "maxScore", "outputs", "runId", "verdict", "capturedAt") SELECT x."defects", x."errorCode", x."id", x."inspectionId", x."latencyMs", x."maxScore", x."outputs", x."runId", x."verdict", i."capturedAt" FROM "ReinferenceResult" x JOIN "Inspection" i ON i."id" = x."inspectionId";
DROP TABLE "ReinferenceResult";
ALTER TABLE "new_ReinferenceResult" RENAME TO "ReinferenceResult";
CREATE INDEX "ReinferenceResult_runId_verdict_idx" ON "ReinferenceResult"("runId", "verdict");
CREATE UNIQUE INDEX "ReinferenceResult_runId_inspectionId_key" ON "ReinferenceResult"("runId", "inspectionId");
CREATE TABLE "new_Review" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "inspectionId" INTEGER NOT NULL,
    "capturedAt" DATETIME NOT NULL,
    "label" TEXT NOT NULL,
    "class" TEXT,
    "box" JSONB,
    "note" TEXT NOT NULL DEFAULT '',
    "userId" INTEGER NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Review_inspectionId_fkey" FOREIGN KEY ("inspectionId") REFERENCES "Inspection" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "Review_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);
INSERT INTO "new_Review" ("box", "class", "createdAt", "id", "inspectionId", "label", "note", "userId", "capturedAt") SELECT x."box", x."class", x."createdAt", x."id", x."inspectionId", x."label", x."note", x."userId", i."capturedAt" FROM "Review" x JOIN "Inspection" i ON i."id" = x."inspectionId";
DROP TABLE "Review";
ALTER TABLE "new_Review" RENAME TO "Review";
CREATE INDEX "Review_inspectionId_idx" ON "Review"("inspectionId");
CREATE INDEX "Review_label_createdAt_idx" ON "Review"("label", "createdAt");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
