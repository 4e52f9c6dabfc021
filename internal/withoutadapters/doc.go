// Package withoutadapters holds tests of grant in a program that imports
// no adapter package: its test binary links grant, GORM and a dialector
// of its own, and registers nothing. They check that grant then routes
// statements among nodes given by Dialector, and that what needs an
// adapter fails at Use, naming the import to add.
package withoutadapters
