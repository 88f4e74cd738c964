// The web player's estimate of its audio output clock: performance.now() -
// contextTime * 1000 for frames as they are heard, from a measure of it
// (AudioContext.getOutputTimestamp()) taken every 100 ms.
//
// The estimate moves in two ways. A step of more than the player's
// tolerance (an underrun in the browser's audio stream, its output
// restarting after a silence: 5-80 ms here) is moved to at once: a measure
// that far off the one before, after a flat run, not a lone outlier, with
// the two after it (stepped()); so is a median of the last OUTPUT_SAMPLES
// more than OUTPUT_JUMP_MS off (a step that rule missed). Otherwise the
// estimate moves towards that median (which rides out the noise of one
// measure, about 0.5 ms) by at most OUTPUT_SLEW_PPM: a sound card's clock
// drifts from the system's by up to a few hundred ppm (and the measure of a
// card behind a pipe, as in the tests, moves in steps of 1-3 ms), while
// Chromium's measure (PulseAudio's interpolated latency) runs off, after
// its output starts or restarts, by up to 9 ms a second, reset part of the
// way back every 1.5 s, for some 15 s; the first measures after the step
// are right. A page that followed the run-off was heard that far off at
// the speaker (docs/benchmarks.md, "The web player's output clock, slowed
// down"). A step that comes during such a run-off is not told from its
// resets: it is moved to only once the median is OUTPUT_JUMP_MS off, else
// at OUTPUT_SLEW_PPM. For the first OUTPUT_FIRST measures the estimate is
// their median.
const OUTPUT_SAMPLES = 21;
const OUTPUT_FIRST = 5;
const OUTPUT_SLEW_PPM = 500;
const OUTPUT_JUMP_MS = 20;
const STEP_SAMPLES = 3;
const STEP_FLAT_MS = 0.4;

// The median of a non-empty list of numbers (the upper one of an even count).
function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

export class OutputClock {
  // `stepMs`: a move larger than this is a step (the player's tolerance,
  // beyond which it jumps rather than follows).
  constructor(stepMs) {
    this.stepMs = stepMs;
    this.samples = 0;    // measures taken, in all
    this.steps = 0;      // steps moved to at once, in all
    this.reset();
  }

  // Forgets the measures (the output stopped or restarted).
  reset() {
    this.offsets = [];   // the last OUTPUT_SAMPLES measures, ms
    this.level = null;   // the estimate, ms; null before a measure
    this.levelAt = 0;    // performance.now() of its last move
    this.fresh = 0;      // measures since the reset
  }

  // The latest measure, or null.
  get latest() { return this.offsets.length ? this.offsets[this.offsets.length - 1] : null; }

  // Adds a measure taken at performance.now() `at`; true when the estimate
  // stepped (what is scheduled should move at once).
  add(offset, at) {
    this.offsets.push(offset);
    if (this.offsets.length > OUTPUT_SAMPLES) this.offsets.shift();
    this.samples++;
    this.fresh++;
    const step = this.stepped();
    if (step) this.offsets = this.offsets.slice(-STEP_SAMPLES);
    const target = median(this.offsets);
    const level = this.level;
    const most = OUTPUT_SLEW_PPM * 1e-6 * (at - this.levelAt);
    this.levelAt = at;
    if (level === null || this.fresh <= OUTPUT_FIRST) {
      this.level = target;
      return false;
    }
    if (step || Math.abs(target - level) > OUTPUT_JUMP_MS) {
      this.level = target;
      this.steps++;
      return true;
    }
    this.level = level + Math.max(-most, Math.min(most, target - level));
    return false;
  }

  // Whether the clock stepped at the third latest measure: that one is more
  // than stepMs off the one before it, which ended a flat run (within
  // STEP_FLAT_MS of the one two before: not a reset of a run-off, see
  // above), and the two after it are nearer to it than to the old level (it
  // is no lone outlier). The new level is then the median of the three: the
  // first may be caught halfway through the step, the others may already
  // run off.
  stepped() {
    const x = this.offsets;
    const n = x.length;
    if (n < STEP_SAMPLES + 3) return false;
    const at = x[n - STEP_SAMPLES];
    const before = x[n - STEP_SAMPLES - 1];
    if (Math.abs(at - before) <= this.stepMs || Math.abs(before - x[n - STEP_SAMPLES - 3]) > STEP_FLAT_MS) return false;
    return x.slice(1 - STEP_SAMPLES).every((y) => Math.abs(y - at) < Math.abs(y - before));
  }
}
