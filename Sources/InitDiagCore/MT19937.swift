/// The 32-bit Mersenne Twister (Matsumoto & Nishimura 1998), seeded with the standard
/// initialisation x[i] = 1812433253·(x[i−1] ⊕ (x[i−1] >> 30)) + i. Both boost::mt19937 (Caffe's
/// generator) and std::mt19937 produce this sequence; the 10000th output for seed 5489 is
/// 4123659995 (the C++ standard's check value).
public struct MT19937: Sendable {
    private var state = [UInt32](repeating: 0, count: 624)
    private var index = 624

    public init(seed: UInt32 = 5489) {
        state[0] = seed
        for i in 1..<624 {
            let prev = state[i - 1]
            state[i] = 1_812_433_253 &* (prev ^ (prev >> 30)) &+ UInt32(i)
        }
        index = 624
    }

    /// The whole generator state: the 624 state words, then the position in them (0…624). A
    /// generator rebuilt from it continues exactly where this one is.
    public var stateWords: [UInt32] { state + [UInt32(index)] }

    /// A generator at a saved `stateWords`; nil when the array is not 625 words or the position
    /// is beyond 624.
    public init?(stateWords words: [UInt32]) {
        guard words.count == 625, words[624] <= 624 else { return nil }
        state = Array(words.prefix(624))
        index = Int(words[624])
    }

    /// One raw 32-bit output (Caffe's `caffe_rng_rand()`).
    public mutating func next() -> UInt32 {
        if index >= 624 { twist() }
        var y = state[index]
        index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    private mutating func twist() {
        let upper: UInt32 = 0x8000_0000, lower: UInt32 = 0x7FFF_FFFF, matrixA: UInt32 = 0x9908_B0DF
        state.withUnsafeMutableBufferPointer { x in
            for i in 0..<624 {
                let y = (x[i] & upper) | (x[(i + 1) % 624] & lower)
                var v = x[(i + 397) % 624] ^ (y >> 1)
                if y & 1 != 0 { v ^= matrixA }
                x[i] = v
            }
        }
        index = 0
    }
}

/// The generator a whole run shares, as Caffe's global RNG is shared: fillers draw from it in
/// layer setup order, CPU dropout draws its masks from it during training.
public final class RandomSource: @unchecked Sendable {
    public var engine: MT19937
    public init(seed: UInt32) { engine = MT19937(seed: seed) }
    @inline(__always) public func next() -> UInt32 { engine.next() }
}
