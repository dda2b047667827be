package cuda

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/ebitengine/purego"
)

// bind fills the func fields of the struct table points to from the library:
// each field tagged `sym:"name"` gets the C function of that name (a tag
// ending in ",optional" leaves the field nil when the symbol is absent).
// Missing symbols and signatures purego cannot call are an error naming
// them, never a panic.
func bind(lib string, lookup func(string) (uintptr, error), table any) error {
	v := reflect.ValueOf(table).Elem()
	t := v.Type()
	var missing []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup("sym")
		if !ok {
			continue
		}
		sym, optional := strings.CutSuffix(tag, ",optional")
		addr, err := lookup(sym)
		if err != nil || addr == 0 {
			if !optional {
				missing = append(missing, sym)
			}
			continue
		}
		if err := register(v.Field(i).Addr().Interface(), addr); err != nil {
			return fmt.Errorf("cuda: %s: %s: %v", lib, sym, err)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("cuda: %s lacks %s (wrong version?)", lib, strings.Join(missing, ", "))
	}
	return nil
}

// register is purego.RegisterFunc with its panics turned into errors.
func register(fptr any, addr uintptr) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	purego.RegisterFunc(fptr, addr)
	return nil
}

// dlsymLookup looks symbols up in an opened library.
func dlsymLookup(handle uintptr) func(string) (uintptr, error) {
	return func(name string) (uintptr, error) { return purego.Dlsym(handle, name) }
}

// load finds a library and binds table to it.
func load(f finder, names []string, companions func(string) []string, table any) (*library, error) {
	lib, err := f.find(names, companions)
	if err != nil {
		return nil, err
	}
	if err := bind(lib.path, dlsymLookup(lib.handle), table); err != nil {
		return nil, err
	}
	return lib, nil
}
