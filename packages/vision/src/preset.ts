import { centerCrop } from './crop';
import { decodeImage, type DecodeOptions } from './decode';
import { requireArg, VisionError, VisionErrorCode } from './errors';
import { checkSize, type RgbImage } from './image';
import { type ResizeKernel, resizeShortSide } from './resize';
import { type NchwTensor, type Rgb3, toNchwFloat32 } from './tensor';

/**
 * A model's image preprocessing: resize the short side, centre-crop a square, scale to [0, 1] and
 * normalise per channel. Spread a preset to change one field, e.g. NegLabel's evaluation transform
 * (reference §9.3) is `{ ...CLIP_PRESET, kernel: 'bilinear' }`.
 */
export interface PreprocessPreset {
  /** For logs and error messages. */
  readonly name: string;
  /** Short side after resizing (torchvision `Resize(int)`). */
  readonly resizeShortSide: number;
  /** Interpolation of the resize. */
  readonly kernel: ResizeKernel;
  /** Pillow-style antialiased resize (true) or torch `antialias=False` (false); see `ResizeOptions`. */
  readonly antialias: boolean;
  /** Side of the square centre crop. */
  readonly cropSize: number;
  /** Per-channel mean subtracted after scaling to [0, 1]. */
  readonly mean: Rgb3;
  /** Per-channel standard deviation divided by after subtracting the mean. */
  readonly std: Rgb3;
}

/**
 * OpenAI CLIP's `clip.load` transform, used by SynOOD's training scripts (reference §9.3): `Resize(224,
 * BICUBIC)` on a PIL image (Pillow bicubic, antialiased), `CenterCrop(224)`, `ToTensor`, CLIP's mean/std.
 */
export const CLIP_PRESET: PreprocessPreset = Object.freeze({
  name: 'clip',
  resizeShortSide: 224,
  kernel: 'bicubic',
  antialias: true,
  cropSize: 224,
  mean: Object.freeze([0.48145466, 0.4578275, 0.40821073] as const),
  std: Object.freeze([0.26862954, 0.26130258, 0.27577711] as const),
});

/**
 * torchvision `ResNet50_Weights.IMAGENET1K_V2.transforms()` applied to a decoded image (a PIL image in
 * the reference): short side 232 bilinear with antialiasing (Pillow, which torchvision ≥ 0.17 also uses
 * for tensors), centre crop 224, ImageNet mean/std. SynOOD's scorer applies the same transform to the
 * VAE output as a float tensor inside the gradient graph (`@synood/graph`), where torchvision 0.13 did
 * not antialias (reference §3.3 step 5); set `antialias: false` to reproduce that on 8-bit images.
 */
export const RESNET_PRESET: PreprocessPreset = Object.freeze({
  name: 'resnet',
  resizeShortSide: 232,
  kernel: 'bilinear',
  antialias: true,
  cropSize: 224,
  mean: Object.freeze([0.485, 0.456, 0.406] as const),
  std: Object.freeze([0.229, 0.224, 0.225] as const),
});

function checkPreset(preset: PreprocessPreset): void {
  checkSize(`preset ${preset.name} resizeShortSide`, preset.resizeShortSide);
  checkSize(`preset ${preset.name} cropSize`, preset.cropSize);
  requireArg(
    preset.cropSize <= preset.resizeShortSide,
    `preset ${preset.name} crops ${preset.cropSize} from a short side of ${preset.resizeShortSide}; ` +
      'cropSize must not exceed resizeShortSide',
  );
}

/** Resize and centre crop of a preset, on a decoded image: the `cropSize`² RGB image the model sees. */
export function applyPreset(image: RgbImage, preset: PreprocessPreset): RgbImage {
  checkPreset(preset);
  const resized = resizeShortSide(image, preset.resizeShortSide, {
    kernel: preset.kernel,
    antialias: preset.antialias,
  });
  return centerCrop(resized, preset.cropSize, preset.cropSize);
}

/**
 * Decodes one encoded image and preprocesses it into a `[1, 3, cropSize, cropSize]` float32 tensor.
 *
 * @param name the file's name or key, used only in error messages.
 * @throws VisionError `VISION_ERR_DECODE` naming the file (see `decodeImage`), `VISION_ERR_BAD_ARGUMENT`
 * for an inconsistent preset.
 */
export async function preprocess(
  bytes: Buffer | Uint8Array,
  name: string,
  preset: PreprocessPreset,
  decodeOptions?: DecodeOptions,
): Promise<NchwTensor> {
  checkPreset(preset);
  const image = await decodeImage(bytes, name, decodeOptions);
  return toNchwFloat32([applyPreset(image, preset)], preset.mean, preset.std);
}

/** One encoded image of a batch. */
export interface EncodedImage {
  readonly bytes: Buffer | Uint8Array;
  /** File name or key, used in error messages and in {@link DecodeFailure}. */
  readonly name: string;
}

/** An input of a batch that could not be decoded; the batch goes on without it. */
export interface DecodeFailure {
  /** Position in the input list. */
  readonly index: number;
  readonly name: string;
  /** The `VISION_ERR_DECODE` error. */
  readonly error: VisionError;
}

/** A preprocessed batch: the tensor rows are the inputs that decoded, in input order. */
export interface PreprocessedBatch extends NchwTensor {
  /** Input index of each tensor row (length N). */
  readonly indices: readonly number[];
  /** Inputs that failed to decode, in input order. */
  readonly failures: readonly DecodeFailure[];
}

/** Options of {@link preprocessBatch}. */
export interface BatchOptions extends DecodeOptions {
  /**
   * Images decoded at once. sharp decodes on libuv's thread pool (4 threads unless `UV_THREADPOOL_SIZE`
   * says otherwise), and every image in flight holds its full-size pixels. @defaultValue 4
   */
  concurrency?: number;
}

/**
 * Decodes and preprocesses a batch into one `[N, 3, cropSize, cropSize]` tensor. An input that cannot be
 * decoded is reported in `failures` and left out, so one corrupt file does not sink a shard (design §6);
 * N is the number that decoded (0 gives an empty tensor with the same H and W).
 *
 * @throws VisionError `VISION_ERR_BAD_ARGUMENT` for an inconsistent preset or concurrency; decode errors are
 * never thrown, they are listed.
 */
export async function preprocessBatch(
  inputs: readonly EncodedImage[],
  preset: PreprocessPreset,
  options: BatchOptions = {},
): Promise<PreprocessedBatch> {
  checkPreset(preset);
  const concurrency = options.concurrency ?? 4;
  checkSize('concurrency', concurrency);
  const cropped: (RgbImage | undefined)[] = new Array<RgbImage | undefined>(inputs.length);
  const failures: DecodeFailure[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < inputs.length) {
      const index = next++;
      const { bytes, name } = inputs[index]!;
      try {
        cropped[index] = applyPreset(await decodeImage(bytes, name, options), preset);
      } catch (err) {
        if (!(err instanceof VisionError && err.code === VisionErrorCode.Decode)) {
          throw err;
        }
        failures.push({ index, name, error: err });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, inputs.length) }, worker));
  failures.sort((a, b) => a.index - b.index);
  const indices: number[] = [];
  const images: RgbImage[] = [];
  cropped.forEach((image, i) => {
    if (image !== undefined) {
      indices.push(i);
      images.push(image);
    }
  });
  const side = preset.cropSize;
  const tensor =
    images.length > 0
      ? toNchwFloat32(images, preset.mean, preset.std)
      : { data: new Float32Array(0), dims: [0, 3, side, side] as const };
  return { data: tensor.data, dims: tensor.dims, indices, failures };
}
