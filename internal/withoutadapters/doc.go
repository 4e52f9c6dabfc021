// Package withoutadapters holds tests of grant in a program that imports
// no adapter package: its test binary links grant, GORM and a dialector
// of its own, and registers nothing: no adapter, no scatter-gather engine.
// They check that grant then routes statements among nodes given by
// Dialector, that what needs an adapter fails at Use, and that statements
// on every shard are refused before any shard is contacted, each naming
// the import to add.
package withoutadapters
