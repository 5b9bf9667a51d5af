/**
 * `synood diffusion timesteps`: the timesteps a denoising chain visits (the scheduler's schedule after the
 * img2img/inpainting strength truncation) and their ᾱ values, as JSON.
 */
import {
  DiffusionError,
  SCHEDULER_KINDS,
  type SchedulerKind,
  createScheduler,
  strengthTimesteps,
} from '@synood/diffusion';
import type { Command } from 'commander';
import { CliError, writeOut } from '../program';

interface TimestepsOptions {
  scheduler: string;
  steps: string;
  strength: string;
}

/** What `synood diffusion timesteps` prints. */
export interface TimestepsReport {
  scheduler: SchedulerKind;
  steps: number;
  strength: number;
  /** Index of the first visited entry in the full schedule. */
  startIndex: number;
  /** The full schedule after `set_timesteps(steps)`. */
  schedule: number[];
  /** The timesteps the chain visits. */
  timesteps: number[];
  /** ᾱ at each visited timestep. */
  alphasCumprod: number[];
  /** The ᾱ the step past t = 0 targets. */
  finalAlphaCumprod: number;
}

function parseNumber(text: string, option: string, integer: boolean): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || (integer && !Number.isSafeInteger(v))) {
    throw new CliError(
      'CLI_ERR_USAGE',
      `${option} must be ${integer ? 'an integer' : 'a number'}, got "${text}"`,
    );
  }
  return v;
}

/**
 * The timesteps report for a scheduler, step count and strength.
 *
 * @throws CliError `CLI_ERR_USAGE` for an unknown scheduler or out-of-range values.
 */
export function timestepsReport(scheduler: string, steps: number, strength: number): TimestepsReport {
  if (!(SCHEDULER_KINDS as readonly string[]).includes(scheduler)) {
    throw new CliError(
      'CLI_ERR_USAGE',
      `--scheduler must be one of ${SCHEDULER_KINDS.join(', ')}, got "${scheduler}"`,
    );
  }
  try {
    const s = createScheduler(scheduler as SchedulerKind, steps);
    const cut = strengthTimesteps(s, strength);
    return {
      scheduler: s.kind,
      steps,
      strength,
      startIndex: cut.startIndex,
      schedule: [...s.timesteps],
      timesteps: [...cut.timesteps],
      alphasCumprod: cut.timesteps.map((t) => s.schedule.alphaAt(t)),
      finalAlphaCumprod: s.schedule.finalAlphaCumprod,
    };
  } catch (err) {
    if (err instanceof DiffusionError) {
      throw new CliError('CLI_ERR_USAGE', err.message);
    }
    throw err;
  }
}

/** Registers `synood diffusion` and its subcommand `timesteps`. */
export function registerDiffusionCommand(program: Command): void {
  const diffusion = program.command('diffusion').description('diffusion scheduler tools');
  diffusion
    .command('timesteps')
    .description(
      'print as JSON the timesteps a denoising chain visits after the strength truncation, with their ᾱ ' +
        '(Stable Diffusion schedule: scaled-linear betas 0.00085→0.012, steps_offset 1, leading spacing)',
    )
    .option('--scheduler <kind>', `scheduler: ${SCHEDULER_KINDS.join(' or ')}`, 'pndm')
    .option('--steps <n>', 'num_inference_steps', '20')
    .option('--strength <s>', 'img2img/inpainting strength in (0, 1]', '0.6')
    .action((options: TimestepsOptions, command: Command) => {
      const report = timestepsReport(
        options.scheduler,
        parseNumber(options.steps, '--steps', true),
        parseNumber(options.strength, '--strength', false),
      );
      writeOut(command, `${JSON.stringify(report, null, 2)}\n`);
    });
}
