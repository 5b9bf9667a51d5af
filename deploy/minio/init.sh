#!/bin/sh
# Run once by the compose service minio-init (image minio/mc) after MinIO is healthy; safe to re-run.
# Creates the synood bucket and an access key for the services whose policy reaches that bucket only,
# so the MinIO root credentials never leave the minio and minio-init containers.
set -eu

: "${MINIO_URL:?}" "${MINIO_ROOT_USER:?}" "${MINIO_ROOT_PASSWORD:?}"
: "${SYNOOD_BUCKET:?}" "${SYNOOD_S3_ACCESS_KEY:?}" "${SYNOOD_S3_SECRET_KEY:?}"

mc alias set local "$MINIO_URL" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null
mc mb --ignore-existing "local/$SYNOOD_BUCKET"

policy=/tmp/synood-bucket-policy.json
cat >"$policy" <<JSON
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
      "Resource": ["arn:aws:s3:::$SYNOOD_BUCKET"]
    },
    {
      "Effect": "Allow",
      "Action": [
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts"
      ],
      "Resource": ["arn:aws:s3:::$SYNOOD_BUCKET/*"]
    }
  ]
}
JSON
# `policy create` replaces an existing policy of that name, so a changed bucket name takes effect.
mc admin policy create local synood-bucket "$policy"
# `user add` on an existing user only updates its secret key.
mc admin user add local "$SYNOOD_S3_ACCESS_KEY" "$SYNOOD_S3_SECRET_KEY"
# Attaching an already attached policy is an error; check first so a re-run stays green.
if ! mc admin user info local "$SYNOOD_S3_ACCESS_KEY" | grep -q 'synood-bucket'; then
  mc admin policy attach local synood-bucket --user "$SYNOOD_S3_ACCESS_KEY"
fi
echo "minio-init: bucket $SYNOOD_BUCKET and access key $SYNOOD_S3_ACCESS_KEY ready"
