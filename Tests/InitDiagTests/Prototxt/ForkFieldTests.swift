import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// A field only a Caffe fork has is named as such, not as a bare "unknown field".
@Suite struct ForkFieldTests {
    @Test func forkFieldsAreNamed() throws {
        let cases: [(String, String, String)] = [
            ("layer { name: \"p\" type: \"Pooling\" pooling_param { ceil_mode: true } }", "'ceil_mode' in pooling_param is not a BVLC Caffe field", "rounds the pooled size up"),
            ("layer { name: \"b\" type: \"BatchNorm\" batch_norm_param { scale_filler { type: \"constant\" } } }", "'scale_filler' in batch_norm_param is not a BVLC Caffe field", "NVIDIA Caffe"),
            ("layer { name: \"d\" type: \"PriorBox\" prior_box_param { min_size: 30 } }", "'prior_box_param' in layer is not a BVLC Caffe field", "SSD fork"),
        ]
        for (text, what, fork) in cases {
            do {
                _ = try Prototxt.parseNet(text, path: "n.prototxt")
                Issue.record("\(text) parsed")
            } catch {
                let m = (error as? InputError)?.message ?? "\(error)"
                #expect(m.contains(what) && m.contains(fork) && m.contains("n.prototxt:1:"), "\(m)")
            }
        }
        // A plain typo is still a typo with a suggestion.
        do {
            _ = try Prototxt.parseNet("layer { name: \"p\" type: \"Pooling\" pooling_param { kernel_sise: 2 } }", path: "n.prototxt")
            Issue.record("a typo parsed")
        } catch {
            let m = (error as? InputError)?.message ?? "\(error)"
            #expect(m.contains("unknown field 'kernel_sise'") && m.contains("did you mean 'kernel_size'"), "\(m)")
        }
    }
}
