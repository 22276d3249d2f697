import InitDiagCore
import InitDiagTrace
// Fields that Caffe forks added to their caffe.proto and BVLC/caffe does not have. A prototxt from
// such a fork names them; the error says so ("a field of the SSD fork, not of BVLC Caffe") instead
// of a bare "unknown field", so the user knows the net is not a BVLC Caffe net as written.

enum CaffeForkFields {
    /// (message, field) → the fork(s) and, where it helps, what BVLC Caffe does instead.
    static let table: [String: [String: String]] = [
        "PoolingParameter": [
            "ceil_mode": "Caffe forks (e.g. the SegNet/ENet and PyTorch-export forks); BVLC Caffe always rounds the pooled size up (ceil_mode: true is its behaviour: remove the field)",
            "round_mode": "Caffe forks (e.g. OpenPose's, Intel Caffe); BVLC Caffe always rounds the pooled size up (round_mode: CEIL is its behaviour: remove the field)",
        ],
        "BatchNormParameter": [
            "scale_filler": "NVIDIA Caffe (BVLC's BatchNorm has no scale: follow it with a Scale layer)",
            "bias_filler": "NVIDIA Caffe (BVLC's BatchNorm has no bias: follow it with a Scale layer, bias_term: true)",
            "scale_bias": "NVIDIA Caffe (BVLC's BatchNorm has no scale or bias: follow it with a Scale layer)",
        ],
        "TransformationParameter": [
            "resize_param": "the SSD fork (weiliu89/caffe)", "noise_param": "the SSD fork (weiliu89/caffe)",
            "distort_param": "the SSD fork (weiliu89/caffe)", "expand_param": "the SSD fork (weiliu89/caffe)",
            "emit_constraint": "the SSD fork (weiliu89/caffe)",
        ],
        "LayerParameter": [
            "annotated_data_param": "the SSD fork (weiliu89/caffe)", "multibox_loss_param": "the SSD fork (weiliu89/caffe)",
            "prior_box_param": "the SSD fork (weiliu89/caffe)", "detection_output_param": "the SSD fork (weiliu89/caffe)",
            "detection_evaluate_param": "the SSD fork (weiliu89/caffe)", "permute_param": "the SSD fork (weiliu89/caffe)",
            "norm_param": "the SSD fork (weiliu89/caffe)", "video_data_param": "the SSD fork (weiliu89/caffe)",
            "roi_pooling_param": "the Fast/Faster R-CNN forks (rbgirshick/caffe-fast-rcnn)",
            "smooth_l1_loss_param": "the Fast/Faster R-CNN forks (rbgirshick/caffe-fast-rcnn)",
            "proposal_param": "the Faster R-CNN forks",
            "interp_param": "the DeepLab/PSPNet forks", "upsample_param": "the SegNet fork (alexgkendall/caffe-segnet)",
            "bn_param": "the SegNet fork and other forks with a BN layer (BVLC has BatchNorm + Scale)",
            "shuffle_channel_param": "the ShuffleNet forks", "relu6_param": "MobileNet forks (BVLC has Clip or ReLU)",
        ],
    ]

    /// The error text for `field` in `message` when a fork defines it, else nil.
    static func message(field: String, in message: String, context: String) -> String? {
        guard let fork = table[message]?[field] else { return nil }
        return "'\(field)' in \(context) is not a BVLC Caffe field: it comes from \(fork); initdiag reads BVLC Caffe's caffe.proto"
    }
}
