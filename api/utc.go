package api

import (
	"reflect"
	"sync"
	"time"
)

// Every time the API returns is in UTC (RFC 3339 ending in Z), whatever the
// server's TZ: a time taken from the clock carries the local zone, one read
// back from the store does not, and the same instant would otherwise show
// in two forms. The times are converted here, where they are written, not
// where they are taken: Time.UTC strips the monotonic reading that the
// server's own durations are measured with.

var timeType = reflect.TypeFor[time.Time]()

// inUTC returns v with every time.Time it holds (in fields, pointers,
// slices, arrays, maps and interfaces) in UTC. v itself, and what it
// points to, is left as it is: what holds a time is copied.
func inUTC(v any) any {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || !holdsTime(rv.Type()) {
		return v
	}
	c := reflect.New(rv.Type()).Elem()
	c.Set(rv)
	utcInto(c)
	return c.Interface()
}

// utcInto puts the times in dst, an addressable copy, in UTC, copying
// what dst shares (through pointers, slices, maps, interfaces) that holds
// a time before changing it.
func utcInto(dst reflect.Value) {
	t := dst.Type()
	if t == timeType {
		p := dst.Addr().Interface().(*time.Time)
		*p = p.UTC()
		return
	}
	if !holdsTime(t) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		for i := range t.NumField() {
			if f := dst.Field(i); f.CanSet() {
				utcInto(f)
			}
		}
	case reflect.Array:
		for i := range dst.Len() {
			utcInto(dst.Index(i))
		}
	case reflect.Pointer:
		if !dst.IsNil() {
			p := reflect.New(t.Elem())
			p.Elem().Set(dst.Elem())
			utcInto(p.Elem())
			dst.Set(p)
		}
	case reflect.Slice:
		if !dst.IsNil() {
			s := reflect.MakeSlice(t, dst.Len(), dst.Len())
			reflect.Copy(s, dst)
			for i := range s.Len() {
				utcInto(s.Index(i))
			}
			dst.Set(s)
		}
	case reflect.Map:
		if !dst.IsNil() {
			m := reflect.MakeMapWithSize(t, dst.Len())
			e := reflect.New(t.Elem()).Elem()
			for it := dst.MapRange(); it.Next(); {
				e.Set(it.Value())
				utcInto(e)
				m.SetMapIndex(it.Key(), e)
			}
			dst.Set(m)
		}
	case reflect.Interface:
		if !dst.IsNil() {
			e := reflect.New(dst.Elem().Type()).Elem()
			e.Set(dst.Elem())
			utcInto(e)
			dst.Set(e)
		}
	}
}

// holdsTime reports whether a value of type t can hold a time.Time that
// JSON writes: an interface may hold anything.
func holdsTime(t reflect.Type) bool {
	if h, ok := timeTypes.Load(t); ok {
		return h.(bool)
	}
	h := holdsTimeIn(t, map[reflect.Type]bool{})
	timeTypes.Store(t, h)
	return h
}

// timeTypes caches holdsTime by type.
var timeTypes sync.Map

func holdsTimeIn(t reflect.Type, seen map[reflect.Type]bool) bool {
	if t == timeType {
		return true
	}
	if seen[t] {
		return false // a type holding itself: decided where it was first met
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		return holdsTimeIn(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() && holdsTimeIn(f.Type, seen) {
				return true
			}
		}
	}
	return false
}
