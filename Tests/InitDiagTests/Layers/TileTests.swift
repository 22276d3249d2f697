import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct TileTests {
    static func make(axis: Int32 = 1, tiles: Int32? = 2) -> () throws -> Layer {
        {
            var p = TileParameter()
            p.axis = axis; p.tiles = tiles
            return try TileLayer(param: CaffeLayerTestKit.param("Tile") { $0.tileParam = p }, context: CaffeLayerTestKit.context())
        }
    }

    @Test func matchesReference() throws {
        try StructuralReference.check("tile_axis1_x3", tolerance: 1e-7, Self.make(tiles: 3))
        try StructuralReference.check("tile_axis0_x2", tolerance: 1e-7, Self.make(axis: 0, tiles: 2))
    }

    @Test func gradients() throws {
        try StructuralReference.gradientCheck(Self.make(tiles: 3), shapes: [[2, 2, 3]])
        try StructuralReference.gradientCheck(Self.make(axis: 0, tiles: 2), shapes: [[3, 2]])
        try StructuralReference.gradientCheck(Self.make(axis: -1, tiles: 1), shapes: [[2, 3]])
    }

    @Test func errors() throws {
        StructuralReference.expectError("must be specified") { _ = try Self.make(tiles: nil)() }
        StructuralReference.expectError("positive") { _ = try Self.make(tiles: 0)() }
        StructuralReference.expectError("out of range") { try Self.make(axis: 2)().setUp(bottom: [Blob(shape: [2, 3])], top: [Blob()]) }
        #expect(try Self.make()().meanField == .identity(approximate: false))
    }
}
