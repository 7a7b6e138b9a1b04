/// What this build of Jisr is, for `/metrics` (`jisr_build_info`) and operators' questions.
public enum JisrBuild {
    /// The release this source tree is; a package built from it carries the same.
    public static let version = "0.9.0"
}
