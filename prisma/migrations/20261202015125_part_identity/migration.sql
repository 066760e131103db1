-- AlterTable
ALTER TABLE "Inspection" ADD COLUMN "lot" TEXT;
ALTER TABLE "Inspection" ADD COLUMN "partId" TEXT;

-- CreateIndex
CREATE INDEX "Inspection_partId_capturedAt_idx" ON "Inspection"("partId", "capturedAt");

-- CreateIndex
CREATE INDEX "Inspection_lot_capturedAt_idx" ON "Inspection"("lot", "capturedAt");
