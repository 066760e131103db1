-- CreateTable
CREATE TABLE "Reinference" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finishedAt" DATETIME,
    "author" TEXT NOT NULL,
    "recipeName" TEXT NOT NULL,
    "candidate" JSONB NOT NULL,
    "selection" JSONB NOT NULL,
    "state" TEXT NOT NULL,
    "total" INTEGER NOT NULL,
    "done" INTEGER NOT NULL DEFAULT 0,
    "error" TEXT
);

-- CreateTable
CREATE TABLE "ReinferenceResult" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "runId" INTEGER NOT NULL,
    "inspectionId" INTEGER NOT NULL,
    "verdict" TEXT NOT NULL,
    "errorCode" TEXT,
    "outputs" JSONB NOT NULL,
    "defects" JSONB NOT NULL,
    "maxScore" REAL NOT NULL,
    "latencyMs" REAL NOT NULL,
    CONSTRAINT "ReinferenceResult_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Reinference" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "ReinferenceResult_inspectionId_fkey" FOREIGN KEY ("inspectionId") REFERENCES "Inspection" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateIndex
CREATE INDEX "Reinference_createdAt_idx" ON "Reinference"("createdAt");

-- CreateIndex
CREATE INDEX "ReinferenceResult_runId_verdict_idx" ON "ReinferenceResult"("runId", "verdict");

-- CreateIndex
CREATE UNIQUE INDEX "ReinferenceResult_runId_inspectionId_key" ON "ReinferenceResult"("runId", "inspectionId");
