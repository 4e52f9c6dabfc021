package apidoc

import (
	"errors"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// publicPackages lists the directories, relative to the module root, whose
// exported names users see: everything but internal/, testdata and the
// command.
func publicPackages(t *testing.T, root string) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		base := d.Name()
		if rel != "." && (strings.HasPrefix(base, ".") || base == "internal" || base == "testdata" || base == "cmd" || base == "docs" || base == "scripts" || base == "tools") {
			return filepath.SkipDir
		}
		dirs = append(dirs, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

// TestEveryExportedNameIsDocumented: an exported type, function, method (of
// an exported type), constant or variable without a doc comment is a name
// users meet in go doc with nothing to say what it promises. A constant or
// variable in a documented group counts as documented.
func TestEveryExportedNameIsDocumented(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, dir := range publicPackages(t, root) {
		fset := token.NewFileSet()
		pkg, err := build.ImportDir(filepath.Join(root, dir), 0)
		var noGo *build.NoGoError
		if errors.As(err, &noGo) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range pkg.GoFiles { // no _test.go files
			file, err := parser.ParseFile(fset, filepath.Join(pkg.Dir, name), nil, parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			rel, _ := filepath.Rel(root, filepath.Join(pkg.Dir, name))
			for _, decl := range file.Decls {
				missing = append(missing, undocumented(fset, rel, decl)...)
			}
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("no doc comment: %s", m)
	}
}

func undocumented(fset *token.FileSet, file string, decl ast.Decl) []string {
	where := func(pos token.Pos, name string) string {
		return file + ":" + itoa(fset.Position(pos).Line) + ": " + name
	}
	var out []string
	switch d := decl.(type) {
	case *ast.FuncDecl:
		if !d.Name.IsExported() || d.Doc != nil {
			return nil
		}
		if d.Recv != nil {
			recv := receiverName(d.Recv.List[0].Type)
			if !ast.IsExported(recv) {
				return nil
			}
			return []string{where(d.Pos(), recv+"."+d.Name.Name)}
		}
		return []string{where(d.Pos(), d.Name.Name)}
	case *ast.GenDecl:
		if d.Doc != nil && d.Tok != token.TYPE {
			return nil // a documented const or var group
		}
		for _, spec := range d.Specs {
			switch s := spec.(type) {
			case *ast.TypeSpec:
				if s.Name.IsExported() && s.Doc == nil && s.Comment == nil && !(d.Doc != nil && len(d.Specs) == 1) {
					out = append(out, where(s.Pos(), s.Name.Name))
				}
			case *ast.ValueSpec:
				if s.Doc != nil || s.Comment != nil {
					continue
				}
				for _, n := range s.Names {
					if n.IsExported() {
						out = append(out, where(n.Pos(), n.Name))
					}
				}
			}
		}
	}
	return out
}

func receiverName(expr ast.Expr) string {
	switch e := expr.(type) {
	case *ast.StarExpr:
		return receiverName(e.X)
	case *ast.IndexExpr:
		return receiverName(e.X)
	case *ast.IndexListExpr:
		return receiverName(e.X)
	case *ast.Ident:
		return e.Name
	}
	return ""
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
