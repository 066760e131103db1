-- DropIndex
DROP INDEX "Inspection_stationId_partSeq_capturedAt_key";

-- CreateIndex
CREATE UNIQUE INDEX "Inspection_stationId_source_partSeq_capturedAt_key" ON "Inspection"("stationId", "source", "partSeq", "capturedAt");
