/**
 * The pipeline demo's images, drawn from raw pixels: an imagefolder InD dataset of coloured shapes
 * (one class per shape) and two flat OOD sets, stripes (far from the shapes) and speckled blobs (near).
 * Every image is a deterministic function of its index, so two demos see the same data.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { type RgbImage, encodePng } from '@synood/vision';

/** Side of every generated image, in pixels. */
export const DEMO_IMAGE_SIDE = 48;

/** The InD classes: each is a shape. */
export const DEMO_CLASSES = ['circle', 'square', 'triangle'] as const;

/** Where the generated data lies. */
export interface DemoData {
  /** The InD imagefolder (`<class>/<n>.png`). */
  train: string;
  /** OOD sets by name, each a flat folder of PNGs, with their near/far group. */
  oodSets: { name: string; location: string; group: 'near' | 'far' }[];
  /** One InD image, to score through the API at the end. */
  sample: string;
}

type Shape = (typeof DEMO_CLASSES)[number];

/** Whether pixel (x, y) of an image of side `n` lies inside `shape` (centred, of radius `r`). */
function inside(shape: Shape, x: number, y: number, cx: number, cy: number, r: number): boolean {
  const dx = x - cx;
  const dy = y - cy;
  switch (shape) {
    case 'circle':
      return dx * dx + dy * dy <= r * r;
    case 'square':
      return Math.abs(dx) <= r && Math.abs(dy) <= r;
    case 'triangle':
      // Apex up: the half-width grows linearly from 0 at the top to r at the bottom.
      return dy >= -r && dy <= r && Math.abs(dx) <= (dy + r) / 2;
  }
}

function hueColor(h: number): [number, number, number] {
  // A saturated colour around the hue circle; h in [0, 1).
  const k = (n: number) => (n + h * 6) % 6;
  const f = (n: number) => Math.round(255 * (1 - Math.max(0, Math.min(k(n), 4 - k(n), 1))));
  return [f(5), f(3), f(1)];
}

function shapeImage(shape: Shape, n: number): RgbImage {
  const side = DEMO_IMAGE_SIDE;
  const data = new Uint8Array(side * side * 3);
  const fg = hueColor((n * 0.137) % 1);
  const bg: [number, number, number] = [230 - 10 * (n % 4), 225 - 7 * (n % 5), 215 + 5 * (n % 3)];
  const cx = side / 2 + ((n * 5) % 9) - 4;
  const cy = side / 2 + ((n * 7) % 9) - 4;
  const r = 10 + (n % 5);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const c = inside(shape, x, y, cx, cy, r) ? fg : bg;
      data.set(c, (y * side + x) * 3);
    }
  }
  return { width: side, height: side, data };
}

function stripesImage(n: number): RgbImage {
  const side = DEMO_IMAGE_SIDE;
  const data = new Uint8Array(side * side * 3);
  const a = hueColor((n * 0.29) % 1);
  const b = hueColor((n * 0.29 + 0.5) % 1);
  const period = 4 + (n % 4);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      data.set(Math.floor((x + (n % 2 === 0 ? y : 0)) / period) % 2 === 0 ? a : b, (y * side + x) * 3);
    }
  }
  return { width: side, height: side, data };
}

function speckleImage(n: number): RgbImage {
  // A circle-like blob with a ragged edge and speckled fill: close to the InD shapes, but none of them.
  const side = DEMO_IMAGE_SIDE;
  const data = new Uint8Array(side * side * 3);
  const fg = hueColor((n * 0.41) % 1);
  let state = 2_654_435_761 * (n + 1);
  const next = () => {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    return state / 2 ** 32;
  };
  const cx = side / 2;
  const cy = side / 2;
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const d = Math.hypot(x - cx, y - cy);
      const edge = 12 + 4 * Math.sin(Math.atan2(y - cy, x - cx) * (3 + (n % 3)));
      const on = d <= edge && next() > 0.3;
      data.set(on ? fg : [220, 220, 220], (y * side + x) * 3);
    }
  }
  return { width: side, height: side, data };
}

async function writeImages(dir: string, images: RgbImage[]): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const paths: string[] = [];
  for (let i = 0; i < images.length; i++) {
    const path = join(dir, `${String(i).padStart(3, '0')}.png`);
    await writeFile(path, await encodePng(images[i]!));
    paths.push(path);
  }
  return paths;
}

/**
 * Writes `perClass` images of each shape under `<root>/train/<class>/` and `oodPerSet` images into
 * `<root>/ood/stripes` (far) and `<root>/ood/speckles` (near).
 */
export async function writeDemoData(root: string, perClass = 8, oodPerSet = 6): Promise<DemoData> {
  const train = join(root, 'train');
  let sample = '';
  for (const [c, shape] of DEMO_CLASSES.entries()) {
    const images = Array.from({ length: perClass }, (_, n) => shapeImage(shape, c * perClass + n));
    const paths = await writeImages(join(train, shape), images);
    sample ||= paths[0]!;
  }
  const stripes = join(root, 'ood', 'stripes');
  const speckles = join(root, 'ood', 'speckles');
  await writeImages(
    stripes,
    Array.from({ length: oodPerSet }, (_, n) => stripesImage(n)),
  );
  await writeImages(
    speckles,
    Array.from({ length: oodPerSet }, (_, n) => speckleImage(n)),
  );
  return {
    train,
    oodSets: [
      { name: 'speckles', location: speckles, group: 'near' },
      { name: 'stripes', location: stripes, group: 'far' },
    ],
    sample,
  };
}
