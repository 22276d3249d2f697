import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct MeanFieldKernelTests {
    @Test func reluKernelEndpoints() {
        #expect(abs(MeanFieldChain.reluCorrelationKernel(1) - 1) < 1e-15)
        #expect(abs(MeanFieldChain.reluCorrelationKernel(0) - 1 / Double.pi) < 1e-15)
        #expect(abs(MeanFieldChain.reluCorrelationKernel(-1)) < 1e-15)
    }

    /// The kernel against a Monte Carlo estimate of E[relu(z_a)relu(z_b)]/(q/2) for correlated
    /// unit Gaussians (Box–Muller on MT19937), 4e5 pairs: standard error ≈ 3e-3.
    @Test func reluKernelMatchesSampling() {
        var rng = MT19937(seed: 99)
        func unit() -> Double { (Double(rng.next()) + 0.5) / 4_294_967_296.0 }
        for c in [-0.5, 0.0, 0.3, 0.9] {
            var s = 0.0
            let n = 400_000
            for _ in 0..<n {
                let r = sqrt(-2 * log(unit())), t = 2 * Double.pi * unit()
                let x = r * cos(t), y = r * sin(t)
                let a = x, b = c * x + sqrt(1 - c * c) * y
                s += max(a, 0) * max(b, 0)
            }
            let estimate = s / Double(n) / 0.5
            #expect(abs(estimate - MeanFieldChain.reluCorrelationKernel(c)) < 0.015, "c = \(c)")
        }
    }
}
