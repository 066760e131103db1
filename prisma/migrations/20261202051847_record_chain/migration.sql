-- AlterTable
ALTER TABLE "AuditLog" ADD COLUMN "hash" TEXT;
ALTER TABLE "AuditLog" ADD COLUMN "prevHash" TEXT;

-- AlterTable
ALTER TABLE "Inspection" ADD COLUMN "code" TEXT;
ALTER TABLE "Inspection" ADD COLUMN "hash" TEXT;
ALTER TABLE "Inspection" ADD COLUMN "imageSha256" JSONB;
ALTER TABLE "Inspection" ADD COLUMN "prevHash" TEXT;

-- CreateIndex
CREATE INDEX "Inspection_stationId_id_idx" ON "Inspection"("stationId", "id");

-- CreateIndex
CREATE UNIQUE INDEX "AuditLog_prevHash_key" ON "AuditLog"("prevHash");
