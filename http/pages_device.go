package http

import "strings"

// deviceName reads a User-Agent as a person would: "Chrome 156 on Linux",
// "Safari 17 on iPhone", "curl 8.5". Unknown agents say so.
func deviceName(ua string) string {
	if ua == "" {
		return "Unknown device"
	}
	browser := uaBrowser(ua)
	system := uaOS(ua)
	switch {
	case browser != "" && system != "":
		return browser + " on " + system
	case browser != "":
		return browser
	case system != "":
		return "A browser on " + system
	}
	// A command-line client or a library: its product token ("curl/8.5.0").
	name, ver, _ := strings.Cut(strings.Fields(ua)[0], "/")
	if len(name) > 40 {
		name = name[:40]
	}
	if ver != "" {
		return name + " " + majorMinor(ver)
	}
	return name
}

// uaBrowser finds the browser and its major version; the order matters,
// since Edge and Opera also say Chrome, and Chrome also says Safari.
func uaBrowser(ua string) string {
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"EdgA/", "Edge"}, {"OPR/", "Opera"}, {"SamsungBrowser/", "Samsung Internet"},
		{"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"}, {"HeadlessChrome/", "Headless Chrome"},
		{"CriOS/", "Chrome"}, {"Chrome/", "Chrome"}, {"Version/", "Safari"},
	} {
		if i := strings.Index(ua, b.token); i >= 0 {
			if b.name == "Safari" && !strings.Contains(ua, "Safari/") {
				continue
			}
			return b.name + " " + major(ua[i+len(b.token):])
		}
	}
	return ""
}

func uaOS(ua string) string {
	switch {
	case strings.Contains(ua, "iPhone"):
		return "iPhone"
	case strings.Contains(ua, "iPad"):
		return "iPad"
	case strings.Contains(ua, "Android"):
		return "Android"
	case strings.Contains(ua, "CrOS"):
		return "ChromeOS"
	case strings.Contains(ua, "Mac OS X"), strings.Contains(ua, "Macintosh"):
		return "macOS"
	case strings.Contains(ua, "Windows"):
		return "Windows"
	case strings.Contains(ua, "Linux"), strings.Contains(ua, "X11"):
		return "Linux"
	}
	return ""
}

// major is the leading digits of a version ("156.0.8078" -> "156").
func major(v string) string {
	n := 0
	for n < len(v) && n < 6 && v[n] >= '0' && v[n] <= '9' {
		n++
	}
	return v[:n]
}

// majorMinor is the first two parts of a version ("8.5.0" -> "8.5").
func majorMinor(v string) string {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) > 2 {
		parts = parts[:2]
	}
	out := strings.Join(parts, ".")
	if len(out) > 12 {
		out = out[:12]
	}
	return out
}
