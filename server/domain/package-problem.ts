// Why a package a build published cannot be indexed: its bytes are the build's, so any
// of them may be truncated, lying or hostile. The message is short and names the part
// ("control.tar.xz: truncated", "METADATA larger than 1 MiB"); it is shown to people as is.

/** A package file that cannot be read or listed, and why (the message). */
export class PackageProblem extends Error {
  override name = 'PackageProblem';
}
