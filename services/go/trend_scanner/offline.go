package main

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// formats that trend on short-video and social platforms, to pair with the topic.
var formats = [][2]string{
	{"first look", "First impressions and unboxings of new %s products"},
	{"myth busting", "Short clips that debunk popular beliefs about %s"},
	{"day in the life", "Creators showing how %s fits into an ordinary day"},
	{"before and after", "Side-by-side results that %s made possible"},
	{"hot takes", "Strong, debatable opinions about where %s is heading"},
	{"tutorial", "Sixty-second how-tos that make %s approachable"},
	{"budget picks", "Affordable ways into %s"},
	{"behind the scenes", "How %s is made, built or run"},
	{"challenge", "A repeatable challenge built around %s"},
	{"reaction", "Creators reacting to the latest %s news"},
}

var rangeBoost = map[string]float64{"last_24_hours": 1.6, "last_7_days": 1.0, "last_30_days": 0.7, "last_90_days": 0.5}

// scanOffline is how the offline model answers the scan task: ranked trends that depend only on
// the topic, platform and range, the same numbers the Python runtime's composer gave.
func scanOffline(in ScanInput) (Trends, error) {
	boost, known := rangeBoost[in.DateRange]
	if !known {
		boost = 1.0
	}
	trends := make([]Trend, 0, len(formats))
	for _, format := range formats {
		name := format[0]
		trends = append(trends, Trend{
			Name:          in.Topic + " " + name,
			Hashtag:       hashtag(in.Topic + " " + name),
			Score:         round1(40 + 60*stableFraction(in.Platform, in.Topic, name)),
			GrowthPercent: round1(200 * stableFraction(in.DateRange, in.Topic, name) * boost),
			Description:   fmt.Sprintf(format[1], in.Topic),
		})
	}
	sort.SliceStable(trends, func(i, j int) bool { return trends[i].Score > trends[j].Score })
	trends = trends[:min(in.Limit, len(trends))]
	for i := range trends {
		trends[i].Rank = i + 1
	}
	return Trends{Platform: in.Platform, Topic: in.Topic, DateRange: in.DateRange, Trends: trends}, nil
}

// stableFraction is a number in [0, 1) that depends only on parts: variety without randomness.
func stableFraction(parts ...string) float64 {
	digest := sha256.Sum256([]byte(strings.Join(parts, "\x1f")))
	return float64(binary.BigEndian.Uint64(digest[:8])) / math.Exp2(64)
}

// round1 rounds to one decimal from the exact binary value, as Python's round(x, 1) does.
func round1(x float64) float64 {
	rounded, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'f', 1, 64), 64)
	return rounded
}

// hashtag is text's words capitalized and run together, at most 40 characters after the '#'.
func hashtag(text string) string {
	var tag []rune
	for _, word := range strings.FieldsFunc(text, func(r rune) bool { return !isWordRune(r) }) {
		runes := []rune(strings.ToLower(word))
		runes[0] = unicode.ToTitle(runes[0])
		tag = append(tag, runes...)
	}
	return "#" + string(tag[:min(len(tag), 40)])
}

func isWordRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}
