import ort from 'onnxruntime-node';
import { StationError } from '../errors/index.js';
import type { Preprocessor } from '../preprocess/index.js';
import { decodeOutputs, type DecodeOptions, type ModelOutput, type Outputs } from './decoders.js';
import type { LoadedModel } from './manifest.js';
import type { Transform } from '../preprocess/index.js';

export interface RunnerOptions {
  threads: number;
}

/** The onnxruntime session options the station runs with (the benchmark's bare loop uses the same). */
export function sessionOptions(threads: number): ort.InferenceSession.SessionOptions {
  return { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential' };
}

/**
 * One onnxruntime session per model. `run` blocks the calling thread (onnxruntime-node does
 * the work synchronously), so runners live in the line worker, never on the HTTP thread.
 */
export class ModelRunner {
  private readonly tensors = new WeakMap<Preprocessor, ort.Tensor>();

  private constructor(
    readonly model: LoadedModel,
    private readonly session: ort.InferenceSession,
  ) {}

  static async create(model: LoadedModel, options: RunnerOptions): Promise<ModelRunner> {
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(model.bytes, sessionOptions(options.threads));
    } catch (err) {
      throw new StationError('STN_ERR_MODEL_INVALID', `onnxruntime cannot load ${model.file}: ${(err as Error).message}`, { cause: err });
    }
    return new ModelRunner(model, session);
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /** Runs the model on the preprocessor's tensor; the ort.Tensor wrapping it is made once. */
  async run(pre: Preprocessor): Promise<Outputs> {
    let tensor = this.tensors.get(pre);
    if (!tensor) {
      const { width, height } = pre.spec;
      tensor = new ort.Tensor('float32', pre.tensor, [1, 3, height, width]);
      this.tensors.set(pre, tensor);
    }
    try {
      const result = await this.session.run({ [this.model.manifest.input.name]: tensor });
      return result as unknown as Outputs;
    } catch (err) {
      throw new StationError('STN_ERR_INFERENCE_FAILED', (err as Error).message, { cause: err });
    }
  }

  decode(outputs: Outputs, t: Transform, options: DecodeOptions): ModelOutput {
    return decodeOutputs(this.model.manifest, this.outputNames, outputs, t, options);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
