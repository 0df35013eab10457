package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("rempart", parseGlobalOption)
}

// parseGlobalOption turns the `rempart` global option into the rempart app.
func parseGlobalOption(d *caddyfile.Dispenser, existing any) (any, error) {
	if existing != nil {
		return nil, d.Err("rempart global option given twice: put all its settings in one block")
	}
	var app App
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: "rempart", Value: caddyconfig.JSON(app, nil)}, nil
}

// UnmarshalCaddyfile sets up the app from the tokens of the `rempart`
// global option. Syntax:
//
//	rempart {
//	    asn_db             <file>
//	    asn_db_reload      <duration>
//	    class              <name> <AS number>...
//	    class_file         <name> <file>...
//	    no_builtin_hosting
//	    store              memory|redis [<options>]
//	}
//
// See RedisStore for the options of `store redis`.
//
// class and class_file may be repeated, also for the same class; every
// option may be omitted.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // option name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch option := d.Val(); option {
		case "asn_db":
			if !d.NextArg() {
				return d.ArgErr()
			}
			a.ASNDB = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		case "asn_db_reload":
			if err := durationArg(d, &a.ASNDBReload); err != nil {
				return err
			}
		case "class":
			name, args, err := classArgs(d, "AS number")
			if err != nil {
				return err
			}
			class := a.Classes[name]
			for _, arg := range args {
				n, err := parseASNumber(arg)
				if err != nil {
					return d.Errf("class %s: %v", name, err)
				}
				class.ASNs = append(class.ASNs, n)
			}
			a.setClass(name, class)
		case "class_file":
			name, files, err := classArgs(d, "file")
			if err != nil {
				return err
			}
			class := a.Classes[name]
			class.Files = append(class.Files, files...)
			a.setClass(name, class)
		case "store":
			if !d.NextArg() {
				return d.Err("store: want memory or redis")
			}
			name := d.Val()
			d.Prev()
			unm, err := caddyfile.UnmarshalModule(d, "rempart.stores."+name)
			if err != nil {
				return err
			}
			a.StoreRaw = caddyconfig.JSONModuleObject(unm, "module", name, nil)
		case "no_builtin_hosting":
			if d.NextArg() {
				return d.ArgErr()
			}
			a.NoBuiltinHosting = true
		default:
			return d.Errf("unknown rempart global option %q", option)
		}
	}
	return nil
}

// classArgs reads the class name and the values (of the kind given)
// after a class or class_file option.
func classArgs(d *caddyfile.Dispenser, kind string) (name string, args []string, err error) {
	option := d.Val()
	if !d.NextArg() {
		return "", nil, d.Errf("%s: want a class name and at least one %s", option, kind)
	}
	name = d.Val()
	if err := checkClassName(name); err != nil {
		return "", nil, d.Errf("%s: %v", option, err)
	}
	if args = d.RemainingArgs(); len(args) == 0 {
		return "", nil, d.Errf("%s %s: want at least one %s", option, name, kind)
	}
	return name, args, nil
}

func (a *App) setClass(name string, class ClassConfig) {
	if a.Classes == nil {
		a.Classes = make(map[string]ClassConfig)
	}
	a.Classes[name] = class
}

// Interface guards
var _ caddyfile.Unmarshaler = (*App)(nil)
