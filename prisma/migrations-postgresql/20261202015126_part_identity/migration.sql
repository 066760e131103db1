-- The part's serial and lot from the PLC. On the partitioned "Inspection" the columns and the
-- indexes go to every month's table; writes wait while the indexes are built (a minute per ten million records).
ALTER TABLE "Inspection" ADD COLUMN "lot" TEXT;
ALTER TABLE "Inspection" ADD COLUMN "partId" TEXT;

CREATE INDEX "Inspection_partId_capturedAt_idx" ON "Inspection"("partId", "capturedAt");

CREATE INDEX "Inspection_lot_capturedAt_idx" ON "Inspection"("lot", "capturedAt");
