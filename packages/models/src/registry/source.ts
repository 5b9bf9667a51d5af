import { fileURLToPath } from 'node:url';

import { ModelRegistryError, ModelRegistryErrorCode } from './errors';

/** The Hugging Face Hub; `hf://` sources resolve against it unless an endpoint (a mirror) is given. */
export const DEFAULT_HF_ENDPOINT = 'https://huggingface.co';

/** URI schemes a catalog file's `source` may use. */
export const MODEL_SOURCE_SCHEMES: readonly string[] = ['hf://', 'https://', 'http://', 's3://', 'file://'];

/** A parsed `source` URI of a catalog file. */
export type ModelSource =
  | {
      /** `hf://owner/repo@revision/path`: a file of a Hugging Face repository at a revision. */
      readonly scheme: 'hf';
      readonly uri: string;
      readonly owner: string;
      readonly repo: string;
      /** A branch, tag or commit; `/` inside a ref (`refs/pr/1`) is written `%2F`, as the Hub's URLs do. */
      readonly revision: string;
      /** POSIX path of the file inside the repository. */
      readonly path: string;
    }
  | {
      /** `https://…` (or `http://…`): fetched as is, redirects followed. */
      readonly scheme: 'http';
      readonly uri: string;
      readonly url: string;
    }
  | {
      /** `s3://bucket/key`: read through `@synood/storage`. */
      readonly scheme: 's3';
      readonly uri: string;
      readonly bucket: string;
      readonly key: string;
    }
  | {
      /** `file:///abs/path`: copied from the local file system. */
      readonly scheme: 'file';
      readonly uri: string;
      /** The absolute local path. */
      readonly path: string;
    };

const HF_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?$/;
const HF_REVISION = /^[A-Za-z0-9._%-]+$/;
const S3_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function sourceError(entry: string, uri: string, problem: string): ModelRegistryError {
  return new ModelRegistryError(
    ModelRegistryErrorCode.Source,
    `${entry}: source ${JSON.stringify(uri)} ${problem}; expected one of ` +
      'hf://owner/repo@revision/path, https://host/path, s3://bucket/key, file:///absolute/path',
  );
}

/** Whether a POSIX relative path has no empty, `.` or `..` segment and no backslash. */
export function isSafeRelativePath(path: string): boolean {
  if (path === '' || path.startsWith('/') || path.includes('\\') || path.includes('\0')) {
    return false;
  }
  return path.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}

function parseHf(uri: string, entry: string): ModelSource {
  const rest = uri.slice('hf://'.length);
  const match = /^([^/@]+)\/([^/@]+)@([^/]+)\/(.+)$/.exec(rest);
  if (match === null) {
    return fail(sourceError(entry, uri, 'is not of the form hf://owner/repo@revision/path'));
  }
  const [, owner, repo, revision, path] = match as unknown as [string, string, string, string, string];
  if (!HF_NAME.test(owner) || !HF_NAME.test(repo)) {
    return fail(sourceError(entry, uri, `names an invalid repository "${owner}/${repo}"`));
  }
  if (!HF_REVISION.test(revision)) {
    return fail(
      sourceError(entry, uri, `has an invalid revision "${revision}" (write "/" inside a ref as %2F)`),
    );
  }
  if (!isSafeRelativePath(path)) {
    return fail(sourceError(entry, uri, `has an invalid file path "${path}" (empty, "." or ".." segment)`));
  }
  return { scheme: 'hf', uri, owner, repo, revision, path };
}

function fail(error: ModelRegistryError): never {
  throw error;
}

/**
 * Parses a catalog file's `source` URI.
 *
 * @param uri - `hf://owner/repo@revision/path`, `https://…` (or `http://…`), `s3://bucket/key` or
 *   `file:///absolute/path`.
 * @param entry - names the catalog entry in error messages, e.g. `clip.vision file onnx/vision_model.onnx`.
 * @throws {@link ModelRegistryError} `MODELS_ERR_SOURCE` naming `entry`, the URI and what is wrong with it.
 */
export function parseModelSource(uri: string, entry: string): ModelSource {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(uri)?.[1]?.toLowerCase();
  switch (scheme) {
    case 'hf':
      return parseHf(uri, entry);
    case 'http':
    case 'https': {
      let url: URL;
      try {
        url = new URL(uri);
      } catch {
        return fail(sourceError(entry, uri, 'is not a valid URL'));
      }
      if (url.hostname === '') {
        return fail(sourceError(entry, uri, 'has no host'));
      }
      if (url.pathname === '/' || url.pathname === '') {
        return fail(sourceError(entry, uri, 'names no file (empty path)'));
      }
      return { scheme: 'http', uri, url: url.href };
    }
    case 's3': {
      const match = /^s3:\/\/([^/]+)\/(.+)$/i.exec(uri);
      if (match === null) {
        return fail(sourceError(entry, uri, 'is not of the form s3://bucket/key'));
      }
      const [, bucket, key] = match as unknown as [string, string, string];
      if (!S3_BUCKET.test(bucket)) {
        return fail(sourceError(entry, uri, `has an invalid bucket name "${bucket}"`));
      }
      if (!isSafeRelativePath(key)) {
        return fail(sourceError(entry, uri, `has an invalid key "${key}"`));
      }
      return { scheme: 's3', uri, bucket, key };
    }
    case 'file': {
      let url: URL;
      try {
        url = new URL(uri);
      } catch {
        return fail(sourceError(entry, uri, 'is not a valid file URL'));
      }
      if (url.host !== '' && url.host !== 'localhost') {
        return fail(
          sourceError(entry, uri, `names the remote host "${url.host}" (use file:///absolute/path)`),
        );
      }
      if (url.pathname === '/' || url.pathname.endsWith('/')) {
        return fail(sourceError(entry, uri, 'names a folder, not a file'));
      }
      return { scheme: 'file', uri, path: fileURLToPath(url) };
    }
    case undefined:
      return fail(sourceError(entry, uri, 'has no scheme'));
    default:
      return fail(sourceError(entry, uri, `has the unsupported scheme "${scheme}://"`));
  }
}

/**
 * Checks and normalises a Hugging Face endpoint (the Hub or a mirror): an `http(s)` URL without a trailing
 * slash.
 *
 * @throws {@link ModelRegistryError} `MODELS_ERR_OPTIONS` for anything else.
 */
export function normalizeHfEndpoint(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new ModelRegistryError(
      ModelRegistryErrorCode.Options,
      `Hugging Face endpoint ${JSON.stringify(endpoint)} is not a URL; expected e.g. ${DEFAULT_HF_ENDPOINT}`,
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ModelRegistryError(
      ModelRegistryErrorCode.Options,
      `Hugging Face endpoint ${JSON.stringify(endpoint)} must be an http(s) URL`,
    );
  }
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}

/**
 * The download URL of an `hf://` source: `${endpoint}/owner/repo/resolve/revision/path`. The Hub answers
 * it with a redirect to its CDN for large (LFS/Xet) files.
 *
 * @param endpoint - the Hub or a mirror. @defaultValue {@link DEFAULT_HF_ENDPOINT}
 */
export function hfResolveUrl(
  source: Extract<ModelSource, { scheme: 'hf' }>,
  endpoint: string = DEFAULT_HF_ENDPOINT,
): string {
  const path = source.path.split('/').map(encodeURIComponent).join('/');
  return `${normalizeHfEndpoint(endpoint)}/${source.owner}/${source.repo}/resolve/${source.revision}/${path}`;
}
