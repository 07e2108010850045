// rascal uses XRegExp only for named capture groups, which RegExp has natively since Node 10.
// Replica bundles (runtime/build.mjs) use this instead of xregexp, which pulls in core-js and
// would make every replica thread parse a megabyte more at start.
function XRegExp(pattern, flags) {
  return new RegExp(pattern, flags);
}
XRegExp.exec = (text, regex) => regex.exec(text);
module.exports = XRegExp;
module.exports.default = XRegExp;
