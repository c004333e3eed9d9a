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
	return utcValue(rv).Interface()
}

func utcValue(v reflect.Value) reflect.Value {
	t := v.Type()
	if t == timeType {
		return reflect.ValueOf(v.Interface().(time.Time).UTC())
	}
	if !holdsTime(t) {
		return v
	}
	switch t.Kind() {
	case reflect.Struct:
		c := reflect.New(t).Elem()
		c.Set(v)
		for i := range t.NumField() {
			if f := c.Field(i); f.CanSet() && holdsTime(t.Field(i).Type) {
				f.Set(utcValue(v.Field(i)))
			}
		}
		return c
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		p := reflect.New(t.Elem())
		p.Elem().Set(utcValue(v.Elem()))
		return p
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		s := reflect.MakeSlice(t, v.Len(), v.Len())
		for i := range v.Len() {
			s.Index(i).Set(utcValue(v.Index(i)))
		}
		return s
	case reflect.Array:
		a := reflect.New(t).Elem()
		for i := range v.Len() {
			a.Index(i).Set(utcValue(v.Index(i)))
		}
		return a
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		m := reflect.MakeMapWithSize(t, v.Len())
		for it := v.MapRange(); it.Next(); {
			m.SetMapIndex(it.Key(), utcValue(it.Value()))
		}
		return m
	case reflect.Interface:
		if v.IsNil() {
			return v
		}
		i := reflect.New(t).Elem()
		i.Set(utcValue(v.Elem()))
		return i
	}
	return v
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
