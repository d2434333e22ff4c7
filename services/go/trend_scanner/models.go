package main

// ScanInput is what the scan skill takes. The content system spelled date_range "dateRange";
// both spellings are accepted (see the skill's Aliases).
type ScanInput struct {
	Platform  string `json:"platform" jsonschema:"enum=tiktok,enum=instagram,enum=youtube,enum=x,enum=linkedin,enum=facebook"`
	Topic     string `json:"topic" jsonschema:"minLength=2,maxLength=200"`
	DateRange string `json:"date_range,omitempty" jsonschema:"enum=last_24_hours,enum=last_7_days,enum=last_30_days,enum=last_90_days,default=last_7_days"`
	Limit     int    `json:"limit,omitempty" jsonschema:"minimum=1,maximum=20,default=5,description=How many trends to return."`
}

// Trend is one ranked trend.
type Trend struct {
	Rank          int     `json:"rank" jsonschema:"minimum=1"`
	Name          string  `json:"name"`
	Hashtag       string  `json:"hashtag"`
	Score         float64 `json:"score" jsonschema:"minimum=0,maximum=100,description=Relative popularity, 0 to 100."`
	GrowthPercent float64 `json:"growth_percent"`
	Description   string  `json:"description"`
}

// Trends is the scan skill's answer.
type Trends struct {
	Platform  string  `json:"platform" jsonschema:"enum=tiktok,enum=instagram,enum=youtube,enum=x,enum=linkedin,enum=facebook"`
	Topic     string  `json:"topic"`
	DateRange string  `json:"date_range" jsonschema:"enum=last_24_hours,enum=last_7_days,enum=last_30_days,enum=last_90_days"`
	Trends    []Trend `json:"trends" jsonschema:"minItems=1"`
}
