// Package apidoc holds only a test: that every exported name of grant's
// public packages has a doc comment, as go doc shows it to users.
package apidoc
