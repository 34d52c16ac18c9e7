package check

import (
	"fmt"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Object is one rendered manifest, decoded into its API type.
type Object struct {
	Kind, Name string
	Obj        runtime.Object
}

// Render renders the kustomization in dir (on disk) and decodes every object strictly: an unknown or a
// repeated field, or a kind that neither Kubernetes nor the Prometheus Operator defines, is an error.
func Render(dir string) ([]Object, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resources, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", dir, err)
	}
	decoder, err := strictDecoder()
	if err != nil {
		return nil, err
	}
	var out []Object
	for _, r := range resources.Resources() {
		data, err := r.AsYAML()
		if err != nil {
			return nil, err
		}
		obj, gvk, err := decoder.Decode(data, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", r.GetKind(), r.GetName(), err)
		}
		out = append(out, Object{Kind: gvk.Kind, Name: r.GetName(), Obj: obj})
	}
	return out, nil
}

func strictDecoder() (runtime.Decoder, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := monitoringv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	return json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme, scheme,
		json.SerializerOptions{Yaml: true, Strict: true}), nil
}

// ImagePinned says why an image reference is not pinned: no tag (or digest), or the tag latest.
func ImagePinned(ref string) error {
	if ref == "" {
		return fmt.Errorf("no image")
	}
	if strings.Contains(ref, "@sha256:") {
		return nil
	}
	name := ref[strings.LastIndex(ref, "/")+1:]
	i := strings.LastIndex(name, ":")
	if i < 0 || i == len(name)-1 {
		return fmt.Errorf("image %q has no tag", ref)
	}
	if name[i+1:] == "latest" {
		return fmt.Errorf("image %q is tagged latest", ref)
	}
	return nil
}
