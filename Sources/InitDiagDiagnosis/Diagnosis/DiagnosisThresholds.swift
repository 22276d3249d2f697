import InitDiagCore
import InitDiagTrace
/// Every number the verdict rules and findings compare against, with the reason for its value.
/// RULES.md (next to this file) states the rules that use them.
public struct DiagnosisThresholds: Sendable, Equatable {
    // MARK: Final verdict

    /// The verdict window is the last `windowFraction` of the recorded steps: the start of a run is
    /// a transient (a net that escapes a plateau late still counts as learning, a net that is
    /// pinned only after a few hundred steps still counts as stuck).
    public var windowFraction: Double = 0.5
    /// Fewer recorded steps than this in the window: `inconclusive`. Ten steps average out the
    /// batch-to-batch noise of the loss (≈ 0.05–0.1 nats on a 10-class problem at batch 128).
    public var minWindowSteps: Int = 10
    /// Stuck band: every loss in the window satisfies |loss − ln C| < `chanceBand`·ln C
    /// (0.115 nats for C = 10): wider than batch noise, narrower than any real progress.
    public var chanceBand: Double = 0.05
    /// Above ln C the stuck rule looks at the window's *mean* loss only, up to
    /// (1 + `chanceBandAbove`)·ln C [0.15 → 2.648]: a net whose logits carry nothing of the input
    /// cannot beat ln C on balanced classes, and the noise its logits do carry (Dropout masks in
    /// TRAIN after a collapse) only adds to the loss. The seed net at batch 16 on the synthetic set
    /// sits at a mean of 2.46 with every loss above 2.19 and a collapsed input.
    public var chanceBandAbove: Double = 0.15
    /// The logits' `between_sample_std` (in nats, their own unit) stays below this in the window
    /// for `stuck-at-chance`. A spread of s nats moves each log-probability by at most about s, so
    /// the input can change the loss by ~1% at most: the output carries no usable information about
    /// the input. Absolute rather than relative to the logits' std: at ln C the logits are also
    /// nearly equal across classes, so their std is tiny too and a ratio means nothing (docs/verdicts.md:
    /// "whatever their input_dependence ratio").
    public var logitSpreadMax: Double = 1e-2
    /// `learning` when the window's mean loss is below `learningLossFraction`·ln C (2.07 for C = 10):
    /// 10% under chance is far outside the stuck band and the batch noise of a mean over ≥ 10 steps.
    public var learningLossFraction: Double = 0.9
    /// … or when the last test accuracy after training (a test at an iteration > 0) exceeds
    /// 1/C + max(`testAccuracyMargin`, `testAccuracyZ`·√(p(1−p)/n)), p = 1/C, n the images of
    /// that test phase. The margin is the smallest gain worth calling learning (at chance the
    /// accuracy of 7,900 images has std √(0.1·0.9/7900) ≈ 0.0034, so 0.05 is ≈ 15 std above it).
    public var testAccuracyMargin: Double = 0.05
    /// The one-sided chance band of a test accuracy, in binomial standard deviations at chance: a
    /// net that guesses exceeds 1/C + 3σ with probability ≈ 0.13% (normal approximation). With
    /// n = 4 images (`--batch-size 4 --test-iter 1`) the band reaches 0.1 + 3·0.15 = 0.55.
    public var testAccuracyZ: Double = 3
    /// A test phase of fewer than `minTestSamplesPerClass`·C images is never evidence: the normal
    /// approximation of the binomial needs n·p ≥ 10 (p = 1/C), and below it a handful of lucky
    /// guesses decide (1 of 4 right is 25% > 15%).
    public var minTestSamplesPerClass: Int = 10
    /// A `learning` run whose window mean loss is still at or above this fraction of ln C (2.187
    /// for C = 10) is called "barely below chance" wherever it is recommended: it learns by its
    /// test accuracy, or only just, and has not shown it can train yet.
    public var barelyLearningLossFraction: Double = 0.95

    // MARK: Early stop (settledVerdict)

    /// Number of consecutive recorded steps a settled verdict looks at: 50 steps leave no room for a
    /// lucky stretch of batches.
    public var settleSteps: Int = 50
    /// No `stuck-at-chance` before every step of that stretch is at or after this iteration: the
    /// first ~100 SGD steps are where a net can still leave the ln C plateau (biases equalise first).
    public var settleMinIteration: Int = 100
    /// Settled-stuck band: every loss of the stretch within `settleChanceBand`·ln C of ln C
    /// (0.069 nats for C = 10). A pinned net whose output equals the label marginal sits within
    /// ~1e-3 of ln C, but with SGD at lr 0.05 and momentum its last bias keeps jiggling around the
    /// marginal from batch to batch: at batch 32 the seed net's per-batch loss wanders ±0.05 while
    /// its input has long stopped reaching the logits.
    public var settleChanceBand: Double = 0.03
    /// Settled-learning: the mean loss of the stretch below `settleLearningFraction`·ln C (1.73
    /// for C = 10): a quarter of the chance loss is gone, progress no plateau explains.
    public var settleLearningFraction: Double = 0.75
    /// The short stretch of the two fast settling rules (0 turns them off): learning when the
    /// mean loss of the last `settleShortSteps` is below `settleLearningFraction`·ln C; stuck when
    /// the input has been gone from some layer on since the first recorded step (`collapsedFromStart`)
    /// and the last `settleShortSteps` losses are in the settle band. 20 steps, two of the trainer's
    /// checks (every `settleCheckEvery` = 10): the evidence of this stuck rule is the collapse,
    /// re-measured at every step; the loss stretch only has to show that the initial transient is
    /// over (the last bias settling the prediction to the label marginal). On the demo's recorded
    /// runs (batch 16, Fixtures/settle/) the declared scheme's loss spikes to 8.4 in its first
    /// 10 steps and then scatters with a std of 0.30 (Dropout masks after the collapse): its 20-step
    /// mean is 2.59 at step 30, inside the one-sided band (≤ 2.648), so it settles at 30 steps;
    /// with 30 steps it first settles at 70 (a 5.3 spike at step 33 keeps the 30-step mean above
    /// the band until then). A 20-batch mean of losses with std 0.3 has a noise of ≈ 0.07 nats,
    /// against 0.58 nats between ln C and the learning threshold. Why no `settleMinIteration`
    /// for the collapsed rule: the ~100 steps a net may need to leave the plateau are steps in which
    /// its input still reaches the logits; here it has not reached them at any step.
    public var settleShortSteps: Int = 20

    // MARK: Findings

    /// A layer's output "stops depending on the input" when `input_dependence` (between-sample
    /// variance / total variance) is below this: between-sample std under 3.2% of the std. Mean-field
    /// (RULES.md), starting from uncentred CIFAR pixels (correlation ≈ 0.9 between images): a
    /// He-initialised ReLU net keeps ≈ 0.03 after 19 layers; the seed net's xavier biases (σ_b² = 1,
    /// σ_w² = 1) drive it below 1e-3 by the 7th layer and to ~1e-7 at the 19th.
    public var collapseInputDependence: Double = 1e-3
    /// `bias-dominated` when E[b²] / E[z²] of a Convolution/InnerProduct output exceeds this. A
    /// bias-free net has 0; PyTorch's default bias next to He weights, E[b²] = 1/(3·fan_in), is under
    /// 1% of E[z²]; Caffe `xavier` biases (variance 1) on xavier weights (σ_w² = 1) start at 80% on
    /// [0, 1] pixels and settle at 1 − σ_w²/2 = 50% (mean-field fixed point q* = σ_b²/(1 − σ_w²/2)).
    /// A third separates the two with margin on both sides.
    public var biasShareMin: Double = 0.3
    /// `dead-units` at initialisation when a ReLU's dead share exceeds this. A channel with a
    /// zero-mean symmetric input is ≤ 0 for all B samples × P positions with probability 2^−(B·P):
    /// any sizeable dead share at init is structural (a negative bias or a collapsed input).
    public var deadFractionMin: Double = 0.2
    /// `dying-units` when a ReLU's dead share grew by at least this much from the first to the last
    /// recorded step (and ends above `deadFractionMin`).
    public var dyingGrowthMin: Double = 0.1
    /// `vanishing-gradient` when l2(gradient into the first layer's bottom) / l2(gradient at the
    /// loss) is below this; `exploding-gradient` when above its inverse. Three orders of magnitude:
    /// blob sizes and pooling change l2 by factors of 2–8 per stage, never by 1000.
    public var gradientRatioMin: Double = 1e-3
    /// `exploding-activation` when a layer's output RMS exceeds this multiple of the input's RMS;
    /// `vanishing-activation` below its inverse. A well-scaled init keeps E[x²] within a small
    /// factor of the input's through depth (mean-field fixed point).
    public var activationGrowthMax: Double = 1e2
    /// `large-updates` when the median update ratio ‖Δw‖₂/‖w‖₂ of a weight over the run exceeds
    /// this: ten times the ~1e-3 per step of healthy SGD.
    public var updateRatioMax: Double = 1e-2
    /// `mean-field-mismatch` when measured and predicted E[z²] differ by more than this factor.
    /// Not 2: zero padding on small maps lowers the measured moment (a 3×3 kernel with pad 1 on a
    /// 2×2 map sees data on 4 of its 9 taps: a factor 2.25) and the prediction does not model it.
    public var meanFieldMismatchFactor: Double = 3
    /// The explanation says "mean-field theory predicts this" only when the chained prediction of
    /// the deepest layer's input-dependent share is within this factor of the measurement (an
    /// order of magnitude); otherwise it says the theory accounts for the mechanism, not the number.
    public var meanFieldAgreementFactor: Double = 10
    /// `saturated-units` when a sigmoid's or tanh's `saturated_fraction` (share of units whose
    /// derivative is below 1% of its maximum) is at least this at initialisation; also the share
    /// that makes a net at ln C a `plateau` (and marks when a layer "has saturated" for the
    /// order of sequential saturation). For a zero-mean Gaussian pre-activation of std σ the share
    /// is P(|x| > 5.29) for sigmoid and P(|x| > 2.99) for tanh: 30% needs σ ≈ 5.1 and 2.9, several
    /// times the linear range — structural, not chance (at σ = 1 the shares are 1e-7 and 0.3%).
    public var saturatedFractionMin: Double = 0.3
    /// `saturating-units` when the saturated share grew by at least this from the first recorded
    /// step to its peak (and the peak reaches `saturatedFractionMin`); as `dyingGrowthMin`.
    public var saturatingGrowthMin: Double = 0.1

    /// A net at ln C is on a plateau it is leaving, not collapsed, when a layer up to the logits
    /// that started cut off (`input_dependence` below `collapseInputDependence` at the first
    /// recorded step) now has at least this multiple of its first `input_dependence`: SGD is
    /// growing the input's signal back (the escape from the small-signal saddle is exponential
    /// from the first steps). Measured on the real CIFAR-10 (Reports/bvlc-cifar10-sigmoid):
    /// BVLC's `cifar10_full_sigmoid` has 4.9e-9 at its logits at initialisation, ×30 after 10
    /// iterations, ×186 after 20, ×6,000 at 200, and leaves ln 10 at ~1,300 iterations; the seed
    /// net's pool5 falls from 2.3e-8 to 1.9e-9 (×0.08) and stays there for 150 iterations. An
    /// order of magnitude separates both with room for the batch-to-batch scatter.
    public var returningGrowthMin: Double = 10
    /// Growth counts only where the grown `input_dependence` is at least this: a between-sample
    /// std of 1e-5 of the std, a hundred times float32's rounding of the per-unit offsets it
    /// rides on (relative 6e-8 per value). Below it a tenfold change can be rounding.
    public var returningFloor: Double = 1e-10

    public init() {}

    public static let `default` = DiagnosisThresholds()
}
