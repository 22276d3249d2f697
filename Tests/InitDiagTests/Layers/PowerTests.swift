import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct PowerLayerTests {
    typealias Kit = NeuronTestKit

    /// (fields, shape, in place, input range): every branch of Caffe's backward.
    static let configurations: [(String, [Int], Bool, Float, Float)] = [
        ("", [2, 3, 4, 5], false, -2, 2),                                                  // identity
        ("power_param { power: 2 scale: 1.5 shift: 0.5 }", [7, 11], true, -2, 2),           // power 2
        ("power_param { power: 0.5 scale: 2 shift: 1 }", [2, 3, 5], false, -0.3, 2),        // general
        ("power_param { power: 3 scale: 0.5 }", [3, 4], true, 0.2, 2),                     // shift 0: y/x
        ("power_param { power: -1.5 shift: 2 }", [2, 2, 3], true, -1, 1),                  // general, in place
        ("power_param { power: 1 scale: -2 shift: 0.25 }", [5], false, -2, 2),             // power 1
        ("power_param { power: 0 scale: 3 }", [2, 3], true, -2, 2),                        // diff_scale 0
    ]

    @Test(arguments: 0..<7)
    func gradient(_ k: Int) throws {
        let (fields, shape, inPlace, lo, hi) = Self.configurations[k]
        try Kit.gradient({ try Kit.make("Power", fields) }, shape: shape, inPlace: inPlace, lo: lo, hi: hi,
                         step: 1e-3)
    }

    @Test(arguments: ["power_param { power: 2 scale: 1.5 shift: 0.5 }", "power_param { power: 0.5 shift: 2 }",
                      "power_param { power: 3 scale: 0.5 }", "power_param { power: 1 scale: 2 }"])
    func inPlaceMatchesOutOfPlace(_ fields: String) throws {
        try CaffeLayerTestKit.expectInPlaceMatches({ try Kit.make("Power", fields) }, shape: [4, 3, 5])
    }

    @Test func matchesPyTorch() throws {
        try Kit.checkFixture("power", inPlace: true)
    }

    /// diff_scale = 0: power 0 gives 1, scale 0 gives shift^power, whatever the input; dx = 0.
    @Test func constantCases() throws {
        for (fields, value) in [("power_param { power: 0 scale: 3 shift: 5 }", Float(1)),
                                ("power_param { power: 2 scale: 0 shift: 3 }", 9)] {
            let layer = try Kit.make("Power", fields)
            let x = CaffeLayerTestKit.blob([4], values: [-1, 0, .nan, 7]), y = Blob()
            try layer.setUp(bottom: [x], top: [y])
            layer.forward(bottom: [x], top: [y])
            #expect(y.dataArray == [value, value, value, value])
            y.setDiff([1, 1, 1, 1])
            layer.backward(top: [y], propagateDown: [true], bottom: [x])
            #expect(x.diffArray == [0, 0, 0, 0])
        }
    }

    @Test func declarations() throws {
        #expect(try Kit.make("Power", "power_param { power: 2 scale: 0.5 shift: -1 }").meanField
                == .pointwise(.power(power: 2, scale: 0.5, shift: -1)))
        #expect(try Kit.make("Power").meanField == .pointwise(.power(power: 1, scale: 1, shift: 0)))
    }

    @Test func parameterErrors() {
        #expect(Kit.buildError("Power", "power_param { power: nan }")?.contains("power must be finite") == true)
        #expect(Kit.buildError("Power", "power_param { scale: inf }")?.contains("scale must be finite") == true)
        #expect(Kit.buildError("Power", "power_param { exponent: 2 }") != nil)
    }

    /// The V1 POWER layer and its power_param (V1 field 21) upgrade to "Power".
    @Test func upgradesV1() throws {
        let text = """
        layers { name: "data" type: DATA top: "data" data_param { source: "x" batch_size: 1 } }
        layers { name: "p" type: POWER bottom: "data" top: "p" power_param { power: 2 shift: 1 } }
        """
        let net = try Prototxt.parseNet(text, path: "v1.prototxt")
        #expect(net.layer[1].type == "Power")
        #expect(net.layer[1].powerParam?.power == 2 && net.layer[1].powerParam?.shift == 1)
    }
}
