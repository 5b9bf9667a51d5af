import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

import { FileStore, StorageError, listImageFolder, readClassNames, readJsonlManifest } from '../src';

let root: string;
let store: FileStore;

async function put(path: string, content: string | Buffer = 'x'): Promise<void> {
  const file = join(root, ...path.split('/'));
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, content);
}

async function failure(promise: Promise<unknown>): Promise<StorageError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(StorageError);
    return error as StorageError;
  }
  throw new Error('expected the call to fail');
}

function syncFailure(fn: () => unknown): StorageError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(StorageError);
    return error as StorageError;
  }
  throw new Error('expected the call to fail');
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'synood-datasets-'));
  store = new FileStore(root);
  for (const path of [
    'train/cat/2.jpg',
    'train/cat/10.JPEG',
    'train/cat/notes.txt',
    'train/cat/.DS_Store',
    'train/cat/._1.jpg',
    'train/dog/sub/b.webp',
    'train/dog/a.png',
    'train/Zebra/z.tif',
    'train/cat-like/c.gif',
    'train/.cache/x.jpg',
    'train/readme.jpg',
    'other/cat/not-in-train.jpg',
  ]) {
    await put(path);
  }
  await mkdir(join(root, 'train', 'empty-class'), { recursive: true });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('listImageFolder', () => {
  it('lists <class>/<image> sorted by class then key, skipping hidden, non-image and class-less files', async () => {
    // Code-unit order: "Z" (0x5A) < "c" (0x63); "cat" < "cat-like" (prefix first); "10.JPEG" < "2.jpg".
    expect(await listImageFolder(store, 'train')).toEqual([
      { key: 'train/Zebra/z.tif', className: 'Zebra' },
      { key: 'train/cat/10.JPEG', className: 'cat' },
      { key: 'train/cat/2.jpg', className: 'cat' },
      { key: 'train/cat-like/c.gif', className: 'cat-like' },
      { key: 'train/dog/a.png', className: 'dog' },
      { key: 'train/dog/sub/b.webp', className: 'dog' },
    ]);
  });

  it('takes the extension list with or without dots, in any case', async () => {
    const expected = [
      { key: 'train/dog/a.png', className: 'dog' },
      { key: 'train/dog/sub/b.webp', className: 'dog' },
    ];
    expect(await listImageFolder(store, 'train/', { extensions: ['PNG', '.webp'] })).toEqual(expected);
  });

  it('lists from the store root and returns nothing for a missing folder', async () => {
    // From the root the class is the top folder: train/readme.jpg now counts, as class "train".
    const all = await listImageFolder(store, '');
    expect(all.map((i) => i.className)).toEqual(['other', ...Array<string>(7).fill('train')]);
    expect(all.map((i) => i.key)).toContain('train/readme.jpg');
    expect(all[0]!.key).toBe('other/cat/not-in-train.jpg');
    expect(await listImageFolder(store, 'nowhere')).toEqual([]);
  });

  it('rejects an empty extension', async () => {
    expect((await failure(listImageFolder(store, 'train', { extensions: ['.'] }))).code).toBe(
      'STORAGE_ERR_CONFIG',
    );
  });
});

describe('readJsonlManifest', () => {
  it('resolves images against the manifest folder (or the root with "/"), skipping blank lines', async () => {
    await put(
      'data/train.jsonl',
      '\uFEFF{"image": "images/a.jpg", "label": "cat"}\r\n' +
        '\r\n' +
        '{"image": "/elsewhere/b.jpg", "label": " dog ", "id": 17}\n' +
        '   {"label": "cat", "image": "c.jpg"}   \n',
    );
    expect(await readJsonlManifest(store, 'data/train.jsonl')).toEqual([
      { key: 'data/images/a.jpg', className: 'cat', line: 1 },
      { key: 'elsewhere/b.jpg', className: 'dog', line: 3 },
      { key: 'data/c.jpg', className: 'cat', line: 4 },
    ]);
  });

  it('resolves relative to the root for a manifest at the root', async () => {
    await put('root.jsonl', '{"image": "cat/1.jpg", "label": "cat"}');
    expect(await readJsonlManifest(store, 'root.jsonl')).toEqual([
      { key: 'cat/1.jpg', className: 'cat', line: 1 },
    ]);
  });

  it.each([
    ['{"image": "a.jpg", "label": "cat"}\n{"image": "b.jpg", "label": ', 2, 'is not valid JSON'],
    ['["a.jpg", "cat"]', 1, 'expected a JSON object'],
    ['{"image": "a.jpg"}', 1, 'label is missing'],
    ['{"image": "a.jpg", "label": 3}', 1, 'label is 3'],
    ['{"image": "", "label": "cat"}', 1, 'image is ""'],
    ['\n\n{"image": "../secret.jpg", "label": "cat"}', 3, '".." segment'],
    ['{"image": "s3://bucket/a.jpg", "label": "cat"}', 1, 'is a URL'],
    ['{"image": "a\\\\b.jpg", "label": "cat"}', 1, 'backslash'],
    ['{"image": "a.jpg", "label": "cat"}\n{"image": "a.jpg", "label": "dog"}', 2, 'already listed on line 1'],
  ])('rejects %j at line %i (%s)', async (text, line, problem) => {
    await put('bad/m.jsonl', text);
    const error = await failure(readJsonlManifest(store, 'bad/m.jsonl'));
    expect(error.code).toBe('STORAGE_ERR_MANIFEST');
    expect(error.message).toContain(`"bad/m.jsonl"`);
    expect(error.message).toContain(`line ${line}:`);
    expect(error.message).toContain(problem);
  });

  it('reports a missing manifest as NOT_FOUND', async () => {
    expect((await failure(readJsonlManifest(store, 'no/such.jsonl'))).code).toBe('STORAGE_ERR_NOT_FOUND');
  });
});

describe('readClassNames', () => {
  it('reads one name per line', () => {
    expect(readClassNames('\uFEFFcat\r\ngolden retriever\n\n  dog  \n')).toEqual([
      { name: 'cat', names: ['cat'] },
      { name: 'golden retriever', names: ['golden retriever'] },
      { name: 'dog', names: ['dog'] },
    ]);
  });

  it('reads bare WordNet ids as names with their wnid', () => {
    expect(readClassNames('n01440764\nn01443537\n')).toEqual([
      { name: 'n01440764', names: ['n01440764'], wnid: 'n01440764' },
      { name: 'n01443537', names: ['n01443537'], wnid: 'n01443537' },
    ]);
  });

  it("reads ImageNet's LOC_synset_mapping.txt form, where names may repeat", () => {
    const text = [
      'n01440764 tench, Tinca tinca',
      'n01443537 goldfish, Carassius auratus',
      'n02012849 crane',
      'n03126707 crane',
      'n04589890 window screen',
      '',
    ].join('\n');
    expect(readClassNames(text)).toEqual([
      { wnid: 'n01440764', name: 'tench', names: ['tench', 'Tinca tinca'] },
      { wnid: 'n01443537', name: 'goldfish', names: ['goldfish', 'Carassius auratus'] },
      { wnid: 'n02012849', name: 'crane', names: ['crane'] },
      { wnid: 'n03126707', name: 'crane', names: ['crane'] },
      { wnid: 'n04589890', name: 'window screen', names: ['window screen'] },
    ]);
  });

  it.each([
    ['n01440764 tench, Tinca tinca\ngoldfish\n', 2, 'not a synset line'],
    ['n01440764 tench\nn01440764 tench\n', 2, 'already listed on line 1'],
    ['cat\n\ndog\ncat\n', 4, 'already listed on line 1'],
    ['n01440764 , ,\n', 1, 'has no names'],
  ])('rejects %j at line %i (%s)', (text, line, problem) => {
    const error = syncFailure(() => readClassNames(text, 'classes.txt'));
    expect(error.code).toBe('STORAGE_ERR_MANIFEST');
    expect(error.message).toContain(`classes.txt line ${line}:`);
    expect(error.message).toContain(problem);
  });
});
