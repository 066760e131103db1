-- The code read from the part, the image digests and the hash chains of the records and of the
-- audit log. On the partitioned "Inspection" the columns and the index go to every month's table.
ALTER TABLE "AuditLog" ADD COLUMN "hash" TEXT;
ALTER TABLE "AuditLog" ADD COLUMN "prevHash" TEXT;

ALTER TABLE "Inspection" ADD COLUMN "code" TEXT;
ALTER TABLE "Inspection" ADD COLUMN "hash" TEXT;
ALTER TABLE "Inspection" ADD COLUMN "imageSha256" JSONB;
ALTER TABLE "Inspection" ADD COLUMN "prevHash" TEXT;

CREATE INDEX "Inspection_stationId_id_idx" ON "Inspection"("stationId", "id");

-- Two writers that read the same audit head cannot both link to it.
CREATE UNIQUE INDEX "AuditLog_prevHash_key" ON "AuditLog"("prevHash");
