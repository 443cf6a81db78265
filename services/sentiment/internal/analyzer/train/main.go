// Command train fits the analyzer's model on the training corpus and writes the
// embedded model file. Run it from the repository root:
//
//	go run ./services/sentiment/internal/analyzer/train
//
// It reads corpus/train_*.tsv and testdata/devset_*.tsv (never the test split, never
// testdata/heldout.tsv) and writes model.bin.gz and model.sum next to the package's
// sources. The same data gives the same bytes.
//
// With -cv it only cross-validates and prints the report.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/voix-dev/voix/services/sentiment/internal/analyzer"
)

func main() {
	dir := flag.String("dir", "services/sentiment/internal/analyzer", "the analyzer package's directory")
	cv := flag.Bool("cv", false, "cross-validate and print the report; write nothing")
	xw := flag.Bool("xw", false, "cross-writer validation (train on all writers but one, in turn) and print the report; write nothing")
	features := flag.String("features", "", "feature recipe edits, e.g. -chars,+trigrams,chars=3-5")
	var o analyzer.TrainOptions
	flag.Float64Var(&o.L2, "l2", 0, "L2 strength of the sentiment model (0: default)")
	flag.Float64Var(&o.RiskL2, "risk-l2", 0, "L2 strength of the risk models")
	flag.Float64Var(&o.LangL2, "lang-l2", 0, "L2 strength of the language model")
	flag.IntVar(&o.MinDF, "min-df", 0, "minimum document frequency of a feature")
	flag.IntVar(&o.MaxIter, "iter", 0, "L-BFGS iterations")
	flag.Float64Var(&o.RiskWeight, "risk-weight", 0, "weight of flagged comments")
	flag.BoolVar(&o.Balance, "balance", false, "balance sentiment classes")
	flag.Float64Var(&o.BlockL2[analyzer.BlockWords], "l2-words", 0, "multiplier of -l2 for word n-grams (0: default)")
	flag.Float64Var(&o.BlockL2[analyzer.BlockChars], "l2-chars", 0, "multiplier of -l2 for character n-grams (0: default)")
	flag.Float64Var(&o.BlockL2[analyzer.BlockOther], "l2-other", 0, "multiplier of -l2 for scope, question, shape, keyword and language-cue features (0: default)")
	flag.Float64Var(&o.BlockL2[analyzer.BlockRules], "l2-rules", 0, "multiplier of -l2 for the rule engine's features (0: default)")
	flag.Float64Var(&o.NBPower, "nb-power", 0, "raise the naive-Bayes ratio to this power (0: 1)")
	flag.StringVar(&o.NBBlocks, "nb-blocks", "", "feature blocks -nb scales: words,chars,other,rules (empty: default)")
	flag.Float64Var(&o.NB, "nb", 0, "scale features by their naive-Bayes log-count ratio, mixed with 1 in this proportion (0: default, negative: off)")
	verbose := flag.Bool("v", false, "log progress")
	flag.Parse()
	o.Features = *features
	if *verbose {
		o.Log = os.Stderr
	}

	exs, err := analyzer.ReadTrainingData(*dir)
	if err != nil {
		fail(err)
	}
	start := time.Now()
	if *xw {
		r, err := analyzer.CrossWriter(exs, o)
		if err != nil {
			fail(err)
		}
		fmt.Printf("%d training comments, cross-writer validation, %v\n", len(exs), time.Since(start).Round(time.Millisecond))
		r.WriterSummary(os.Stdout, analyzer.DefaultRiskRecall())
		return
	}
	if *cv {
		r, err := analyzer.CrossValidate(exs, o)
		if err != nil {
			fail(err)
		}
		fmt.Printf("%d training comments, %d-fold cross-validation, %v\n", len(exs), 5, time.Since(start).Round(time.Millisecond))
		r.Summary(os.Stdout)
		return
	}
	data, r, err := analyzer.Train(exs, o)
	if err != nil {
		fail(err)
	}
	fmt.Printf("%d training comments, trained in %v\n", len(exs), time.Since(start).Round(time.Millisecond))
	r.Summary(os.Stdout)
	if err := os.WriteFile(filepath.Join(*dir, "model.bin.gz"), data, 0o644); err != nil {
		fail(err)
	}
	sum := analyzer.ModelSum(data, exs)
	if err := os.WriteFile(filepath.Join(*dir, "model.sum"), []byte(sum), 0o644); err != nil {
		fail(err)
	}
	fmt.Printf("wrote model.bin.gz (%d bytes) and model.sum\n%s", len(data), sum)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "train:", err)
	os.Exit(1)
}
